//! The HTTP edge of the Worker: reading a request's headers once, reading its body under the
//! size limit, and turning a [`Reply`] into a Response (every JSON response with
//! `Cache-Control: no-store`).
//!
//! This works on the runtime's own `Request` and `Response` (web-sys) rather than the
//! `worker` crate's wrappers: converting a request into `worker::Request` reads `request.cf`,
//! which workerd materialises as a fresh object on every access, and that one property cost
//! more per refresh than all of our own code (see docs/BENCHMARKS.md).

use crate::core::protocol;
use crate::core::server::dpop;
use crate::core::server::error::AuthError;
use crate::core::server::http::{origin_of, path_of, BodyKind, Params, Provenance};
use js_sys::{Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, ReadableStreamDefaultReader, Request, Response, ResponseInit};

/// The request headers the handlers use, read once.
#[derive(Debug, Default)]
pub struct Meta {
    /// The raw method (not normalised: unknown methods must not become GET).
    pub method: String,
    /// The request URL (what a DPoP proof's `htu` must name).
    pub url: String,
    /// The URL path.
    pub path: String,
    /// `scheme://host[:port]` of the request URL.
    pub self_origin: String,
    /// `Origin`.
    pub origin: Option<String>,
    /// `Sec-Fetch-Site`.
    pub sec_fetch_site: Option<String>,
    /// `X-Silent-Refresh`.
    pub csrf: Option<String>,
    /// `Cookie`.
    pub cookie: Option<String>,
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `DPoP` (a proof; several headers arrive joined by `", "` and are refused as malformed).
    pub dpop: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<String>,
    /// `CF-Connecting-IP`: the client's address as Cloudflare's edge saw it (the edge sets it;
    /// a client cannot choose it in production).
    pub client_ip: Option<String>,
}

impl Meta {
    /// Reads the metadata of `req`.
    pub fn of(req: &Request) -> Meta {
        let h = req.headers();
        let get = |name: &str| h.get(name).ok().flatten();
        let url = req.url();
        Meta {
            method: req.method(),
            path: path_of(&url).to_string(),
            self_origin: origin_of(&url).unwrap_or("").to_string(),
            url,
            origin: get("Origin"),
            sec_fetch_site: get("Sec-Fetch-Site"),
            csrf: get(protocol::CSRF_HEADER),
            cookie: get("Cookie"),
            authorization: get("Authorization"),
            dpop: get(dpop::SCHEME),
            content_type: get("Content-Type"),
            content_length: get("Content-Length"),
            client_ip: get("CF-Connecting-IP"),
        }
    }

    /// The provenance view used by the CSRF and CORS rules.
    pub fn provenance(&self) -> Provenance<'_> {
        Provenance {
            self_origin: &self.self_origin,
            origin: self.origin.as_deref(),
            sec_fetch_site: self.sec_fetch_site.as_deref(),
            csrf_header: self.csrf.as_deref(),
        }
    }
}

const UNREADABLE: AuthError = AuthError::InvalidRequest("unreadable body");

/// Reads the body, refusing more than `limit` bytes: first by `Content-Length` (before reading
/// anything), then while reading (chunked or lying clients).
pub async fn read_body(req: &Request, meta: &Meta, limit: usize) -> Result<Vec<u8>, AuthError> {
    if let Some(len) = &meta.content_length {
        match crate::core::server::http::ows(len).parse::<u64>() {
            Ok(n) if n > limit as u64 => return Err(AuthError::PayloadTooLarge),
            Ok(_) => {}
            Err(_) => return Err(AuthError::InvalidRequest("malformed Content-Length")),
        }
    }
    let Some(stream) = req.body() else {
        return Ok(Vec::new());
    };
    if meta.content_length.is_some() {
        // The declared length is within the limit and the runtime holds the body to it: read it
        // in one call (streaming chunk by chunk costs a JS round trip per chunk).
        let buffer = req.array_buffer().map_err(|_| UNREADABLE)?;
        let buffer = JsFuture::from(buffer).await.map_err(|_| UNREADABLE)?;
        let body = Uint8Array::new(&buffer).to_vec();
        if body.len() > limit {
            return Err(AuthError::PayloadTooLarge);
        }
        return Ok(body);
    }
    // No Content-Length (chunked): read chunk by chunk, and stop at the limit.
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let step = JsFuture::from(reader.read())
            .await
            .map_err(|_| UNREADABLE)?;
        let done = Reflect::get(&step, &JsValue::from_str("done")).map_err(|_| UNREADABLE)?;
        if done.as_bool() != Some(false) {
            return Ok(body);
        }
        let chunk = Reflect::get(&step, &JsValue::from_str("value"))
            .ok()
            .and_then(|v| v.dyn_into::<Uint8Array>().ok())
            .ok_or(UNREADABLE)?;
        if body.len() + chunk.length() as usize > limit {
            let _ = reader.cancel();
            return Err(AuthError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk.to_vec());
    }
}

/// Reads and parses the body as parameters; an empty body is no parameters; a non-empty one
/// must be of an `accepted` kind (else 415).
pub async fn read_params(
    req: &Request,
    meta: &Meta,
    limit: usize,
    accepted: &[BodyKind],
) -> Result<(Params, BodyKind), AuthError> {
    let kind = BodyKind::of(meta.content_type.as_deref());
    let body = read_body(req, meta, limit).await?;
    if body.is_empty() {
        return Ok((Params::default(), kind));
    }
    if !accepted.contains(&kind) {
        return Err(AuthError::UnsupportedMediaType);
    }
    Ok((Params::parse(kind, &body)?, kind))
}

/// A response before it becomes a `worker::Response`.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`None`: no body).
    pub body: Option<String>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            body: Some(value.to_string()),
            headers: Vec::new(),
        }
    }

    /// An empty reply.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// The reply of an error: RFC 6749 body, status and its required headers.
    pub fn error(e: &AuthError) -> Reply {
        Reply {
            status: e.status(),
            body: Some(e.body()),
            headers: e.headers(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// Converts into a Response.
    pub fn into_response(self) -> Result<Response, JsValue> {
        let headers = Headers::new()?;
        headers.set("Cache-Control", "no-store")?;
        headers.set("X-Content-Type-Options", "nosniff")?;
        if self.body.is_some() {
            headers.set("Content-Type", "application/json")?;
        }
        for (name, value) in &self.headers {
            headers.append(name, value)?;
        }
        let init = ResponseInit::new();
        init.set_status(self.status);
        init.set_headers_headers(&headers);
        Response::new_with_opt_str_and_init(self.body.as_deref(), &init)
    }
}
