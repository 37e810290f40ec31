//! The HTTP edge of the Worker: reading a request's headers once, reading its body under the
//! size limit, and turning a [`Reply`] into a `worker::Response` (every JSON response with
//! `Cache-Control: no-store`).

use crate::core::server::error::AuthError;
use crate::core::server::http::{origin_of, BodyKind, Params, Provenance};
use futures_util::StreamExt;
use serde_json::Value;
use worker::{Headers, Request, Response, ResponseBuilder};

/// The request headers the handlers use, read once.
#[derive(Debug, Default)]
pub struct Meta {
    /// The raw method (not normalised: unknown methods must not become GET).
    pub method: String,
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
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<String>,
}

impl Meta {
    /// Reads the metadata of `req`.
    pub fn of(req: &Request) -> Meta {
        let h = req.headers();
        let get = |name: &str| h.get(name).ok().flatten();
        let url = req.inner().url();
        Meta {
            method: req.inner().method(),
            path: req.path(),
            self_origin: origin_of(&url).unwrap_or("").to_string(),
            origin: get("Origin"),
            sec_fetch_site: get("Sec-Fetch-Site"),
            csrf: get("X-Silent-Refresh"),
            cookie: get("Cookie"),
            authorization: get("Authorization"),
            content_type: get("Content-Type"),
            content_length: get("Content-Length"),
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

/// Reads the body, refusing more than `limit` bytes: first by `Content-Length` (before reading
/// anything), then while reading (chunked or lying clients).
pub async fn read_body(req: &mut Request, meta: &Meta, limit: usize) -> Result<Vec<u8>, AuthError> {
    if let Some(len) = &meta.content_length {
        match len.trim().parse::<u64>() {
            Ok(n) if n > limit as u64 => return Err(AuthError::PayloadTooLarge),
            Ok(_) => {}
            Err(_) => return Err(AuthError::InvalidRequest("malformed Content-Length")),
        }
    }
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    if meta.content_length.is_some() {
        // The declared length is within the limit and the runtime holds the body to it: read it
        // in one call (streaming chunk by chunk costs a JS round trip per chunk).
        let body = req
            .bytes()
            .await
            .map_err(|_| AuthError::InvalidRequest("unreadable body"))?;
        if body.len() > limit {
            return Err(AuthError::PayloadTooLarge);
        }
        return Ok(body);
    }
    // No Content-Length (chunked): stream, and stop at the limit.
    let mut stream = req
        .stream()
        .map_err(|_| AuthError::InvalidRequest("unreadable body"))?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| AuthError::InvalidRequest("unreadable body"))?;
        if body.len() + chunk.len() > limit {
            return Err(AuthError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads and parses the body as parameters; an empty body is no parameters; a non-empty one
/// must be of an `accepted` kind (else 415).
pub async fn read_params(
    req: &mut Request,
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

    /// Converts into a `worker::Response`.
    pub fn into_response(self) -> worker::Result<Response> {
        let headers = Headers::new();
        headers.set("Cache-Control", "no-store")?;
        headers.set("X-Content-Type-Options", "nosniff")?;
        if self.body.is_some() {
            headers.set("Content-Type", "application/json")?;
        }
        for (name, value) in &self.headers {
            headers.append(name, value)?;
        }
        let builder = ResponseBuilder::new()
            .with_status(self.status)
            .with_headers(headers);
        Ok(match self.body {
            Some(body) => builder.fixed(body.into_bytes()),
            None => builder.empty(),
        })
    }
}
