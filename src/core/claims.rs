//! Reads the times out of a JWT without verifying it.
//!
//! The browser package only needs to know when its access token expires; verification is the
//! resource server's job. So this is a small, allocation-light reader of a JWT's payload: it
//! base64url-decodes the middle segment and walks the top-level JSON object, keeping the numeric
//! `exp` and `iat` members and skipping every other value (strings with escapes, nested objects
//! and arrays, literals). It never panics on any input (see the fuzz target `jwt_claims`).

use crate::core::b64;

/// Upper bound on the token length accepted (access tokens are a few hundred bytes).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Upper bound on JSON nesting inside the payload.
const MAX_DEPTH: usize = 32;

/// The registered time claims of a JWT, in seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenTimes {
    /// `exp`: expiry.
    pub exp: Option<u64>,
    /// `iat`: issue time.
    pub iat: Option<u64>,
}

impl TokenTimes {
    /// The token's lifetime in seconds, when both claims are present and ordered.
    pub fn lifetime(&self) -> Option<u64> {
        match (self.iat, self.exp) {
            (Some(iat), Some(exp)) if exp >= iat => Some(exp - iat),
            _ => None,
        }
    }
}

/// Why a token could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimsError {
    /// Not three dot-separated segments, or longer than [`MAX_TOKEN_LEN`].
    NotAJwt,
    /// The payload is not base64url.
    BadEncoding,
    /// The payload is not a JSON object, or `exp`/`iat` are not non-negative integers.
    BadPayload,
}

impl ClaimsError {
    /// A stable code callers can branch on.
    pub fn code(self) -> &'static str {
        match self {
            ClaimsError::NotAJwt => "ERR_JWT_MALFORMED",
            ClaimsError::BadEncoding => "ERR_JWT_ENCODING",
            ClaimsError::BadPayload => "ERR_JWT_PAYLOAD",
        }
    }
}

/// Reads `exp` and `iat` from a compact JWS (`header.payload.signature`).
pub fn read_times(token: &str) -> Result<TokenTimes, ClaimsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ClaimsError::NotAJwt);
    }
    // Exactly two dots, header and payload non-empty. Found by bytes rather than with
    // `str::split`, whose pattern machinery is a tenth of this module in the wasm.
    let mut dots = token.bytes().enumerate().filter(|c| c.1 == b'.').map(|c| c.0);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(ClaimsError::NotAJwt);
    };
    let payload = token.get(first + 1..second).unwrap_or("");
    if first == 0 || payload.is_empty() {
        return Err(ClaimsError::NotAJwt);
    }
    let json = b64::decode(payload).ok_or(ClaimsError::BadEncoding)?;
    read_times_json(&json).ok_or(ClaimsError::BadPayload)
}

/// Reads `exp` and `iat` from a JWT payload's JSON bytes; `None` if it is not a valid JSON object
/// or those members are not non-negative integers.
pub fn read_times_json(json: &[u8]) -> Option<TokenTimes> {
    let mut p = Parser { s: json, i: 0 };
    let mut times = TokenTimes::default();
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            match key {
                b"exp" => times.exp = Some(p.integer()?),
                b"iat" => times.iat = Some(p.integer()?),
                _ => p.value(0)?,
            }
            p.ws();
            match p.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    (p.i == p.s.len()).then_some(times)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A JSON string; returns its raw bytes (escapes kept as written: keys we look for have none).
    /// Borrowed, not copied, and without a panicking slice: this runs in the browser package.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match self.next()? {
                b'"' => return self.s.get(start..self.i - 1),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.next()?.is_ascii_hexdigit() {
                                return None;
                            }
                        }
                    }
                    _ => return None,
                },
                c if c < 0x20 => return None,
                _ => {}
            }
        }
    }

    /// A non-negative integer (JWT NumericDate; fractions are accepted and truncated).
    fn integer(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let frac = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == frac {
                return None;
            }
        }
        Some(v)
    }

    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        self.integer()?;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.integer()?;
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.s.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// Skips any JSON value.
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let close = if self.next()? == b'{' { b'}' } else { b']' };
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    if close == b'}' {
                        self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => continue,
                        c if c == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!("eyJhbGciOiJFZERTQSJ9.{}.c2ln", b64::encode(payload.as_bytes()))
    }

    #[test]
    fn reads_exp_and_iat_among_other_claims() {
        let token = jwt(r#"{"iss":"https://a\"b","aud":["x",{"y":[1,2.5e3,null]}],"iat":1700000000,"exp":1700000900,"ok":true}"#);
        let times = read_times(&token).unwrap();
        assert_eq!(times, TokenTimes { exp: Some(1_700_000_900), iat: Some(1_700_000_000) });
        assert_eq!(times.lifetime(), Some(900));
    }

    #[test]
    fn missing_claims_are_none() {
        assert_eq!(read_times(&jwt("{}")).unwrap(), TokenTimes::default());
        assert_eq!(read_times(&jwt(r#"{"sub":"u"}"#)).unwrap().lifetime(), None);
    }

    #[test]
    fn fractional_times_truncate() {
        assert_eq!(read_times(&jwt(r#"{"exp":12.75}"#)).unwrap().exp, Some(12));
    }

    #[test]
    fn rejects_non_jwts() {
        for bad in ["", "a.b", "a.b.c.d", ".e30.", "abc", "srt_AAAA"] {
            assert_eq!(read_times(bad), Err(ClaimsError::NotAJwt), "{bad:?}");
        }
        assert_eq!(read_times("a.e30*.c"), Err(ClaimsError::BadEncoding));
        assert_eq!(read_times(&"a.".repeat(MAX_TOKEN_LEN)), Err(ClaimsError::NotAJwt));
    }

    #[test]
    fn rejects_bad_payloads() {
        for bad in [
            "[]", "{", "  ", r#"{"exp":-1}"#, r#"{"exp":"1"}"#, r#"{"exp":1e3}"#, r#"{"exp":1,}"#,
            r#"{"a":tru}"#, r#"{"a":"\x"}"#, "{} x", r#"{"exp":99999999999999999999999}"#,
            r#"{"a":[1 2]}"#, r#"{"a":"\u12g4"}"#, "{\"a\":\"\n\"}",
        ] {
            assert_eq!(read_times(&jwt(bad)), Err(ClaimsError::BadPayload), "{bad:?}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert_eq!(read_times(&jwt(&deep)), Err(ClaimsError::BadPayload));
    }
}
