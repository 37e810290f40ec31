//! DPoP proofs (RFC 9449): every validation rule, the RFC 7638 thumbprint and RFC 9449's own
//! example proofs, URL normalisation and the replay cache over the in-memory store.

use crate::server_common::run;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Map, Value};
use silent_refresh::core::b64;
use silent_refresh::core::server::dpop::{
    ath, jwk_thumbprint, normalize_htu, verify, DpopError, Expect, KvReplayCache, Proof,
    PureRustEs256, ReplayCache, IAT_WINDOW, MAX_PROOF_LEN,
};
use silent_refresh::core::server::store::MemoryStore;

const NOW: u64 = 1_700_000_000;
const URL: &str = "https://auth.example.com/auth/refresh";

/// The token-request proof of RFC 9449 §4.1 (its key is the one of §6.1's `jkt` example).
const RFC_TOKEN_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
/// The protected-resource proof of RFC 9449 §7.1, sent with [`RFC_ACCESS_TOKEN`].
const RFC_RESOURCE_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

/// A client key that makes proofs with any header and claims.
struct Client {
    key: SigningKey,
    jwk: Value,
}

impl Client {
    fn new(seed: u8) -> Client {
        let key = SigningKey::from_slice(&[seed; 32]).expect("a valid scalar");
        let point = key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let jwk = json!({
            "kty": "EC", "crv": "P-256",
            "x": b64::encode(&bytes[1..33]), "y": b64::encode(&bytes[33..]),
        });
        Client { key, jwk }
    }

    fn jkt(&self) -> String {
        jwk_thumbprint(self.jwk.as_object().unwrap()).unwrap()
    }

    fn header(&self) -> Map<String, Value> {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk })
            .as_object()
            .unwrap()
            .clone()
    }

    fn claims(jti: &str, htm: &str, htu: &str, iat: u64) -> Map<String, Value> {
        json!({ "jti": jti, "htm": htm, "htu": htu, "iat": iat })
            .as_object()
            .unwrap()
            .clone()
    }

    /// Signs `header.claims` with this key (whatever the header says).
    fn sign(&self, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
        let input = format!(
            "{}.{}",
            b64::encode(Value::Object(header.clone()).to_string().as_bytes()),
            b64::encode(Value::Object(claims.clone()).to_string().as_bytes())
        );
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64::encode(&sig.to_bytes()))
    }

    /// A valid proof for `POST URL` at `NOW`.
    fn proof(&self, jti: &str) -> String {
        self.sign(&self.header(), &Client::claims(jti, "POST", URL, NOW))
    }
}

fn expect_post(now: u64) -> Expect<'static> {
    Expect {
        method: "POST",
        url: URL,
        now,
        window: IAT_WINDOW,
        access_token: None,
    }
}

fn check(proof: &str, want: &Expect<'_>) -> Result<Proof, DpopError> {
    run(verify(proof, want, &PureRustEs256))
}

// --- thumbprints and the RFC examples ------------------------------------------------------------

#[test]
fn thumbprint_of_the_rfc_7638_example_key() {
    // RFC 7638 §3.1: an RSA key (its `alg` and `kid` do not count).
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        jwk_thumbprint(jwk.as_object().unwrap()).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn thumbprint_of_the_rfc_9449_example_key_ignores_order_and_other_members() {
    let jwk = json!({
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "use": "sig",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", "crv": "P-256", "kty": "EC", "kid": "a",
    });
    assert_eq!(jwk_thumbprint(jwk.as_object().unwrap()).unwrap(), RFC_JKT);
    let missing_y =
        json!({ "kty": "EC", "crv": "P-256", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs" });
    assert_eq!(
        jwk_thumbprint(missing_y.as_object().unwrap()),
        Err(DpopError::Jwk)
    );
    assert_eq!(
        jwk_thumbprint(json!({ "kty": "XYZ" }).as_object().unwrap()),
        Err(DpopError::Jwk)
    );
}

#[test]
fn ath_of_the_rfc_9449_example_token() {
    assert_eq!(
        ath(RFC_ACCESS_TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn the_rfc_9449_token_request_proof_verifies_at_its_time_and_url() {
    let want = Expect {
        method: "POST",
        url: "https://server.example.com/token",
        now: 1_562_262_616,
        window: IAT_WINDOW,
        access_token: None,
    };
    let proof = check(RFC_TOKEN_PROOF, &want).expect("RFC 9449's example proof is valid");
    assert_eq!(proof.jkt, RFC_JKT);
    assert_eq!(proof.jti, "-BwC3ESc6acc2lTc");
    assert_eq!(proof.iat, 1_562_262_616);
    // The same proof for another endpoint, method or much later is refused.
    let other = Expect {
        url: "https://server.example.com/other",
        ..want
    };
    assert_eq!(check(RFC_TOKEN_PROOF, &other), Err(DpopError::Url));
    let get = Expect {
        method: "GET",
        ..want
    };
    assert_eq!(check(RFC_TOKEN_PROOF, &get), Err(DpopError::Method));
    let later = Expect { now: NOW, ..want };
    assert_eq!(check(RFC_TOKEN_PROOF, &later), Err(DpopError::TooOld));
}

#[test]
fn the_rfc_9449_resource_proof_verifies_with_its_access_token_only() {
    let want = Expect {
        method: "GET",
        url: "https://resource.example.org/protectedresource",
        now: 1_562_262_618,
        window: IAT_WINDOW,
        access_token: Some(RFC_ACCESS_TOKEN),
    };
    assert_eq!(check(RFC_RESOURCE_PROOF, &want).unwrap().jkt, RFC_JKT);
    let other_token = Expect {
        access_token: Some("another-token"),
        ..want
    };
    assert_eq!(check(RFC_RESOURCE_PROOF, &other_token), Err(DpopError::Ath));
    // The token-request proof has no ath: refused at a resource.
    let at_token = Expect {
        method: "POST",
        url: "https://server.example.com/token",
        now: 1_562_262_616,
        ..want
    };
    assert_eq!(check(RFC_TOKEN_PROOF, &at_token), Err(DpopError::Ath));
}

// --- a valid proof ---------------------------------------------------------------------------------

#[test]
fn a_proof_made_here_verifies_and_names_its_key() {
    let client = Client::new(7);
    let proof = check(&client.proof("j-1"), &expect_post(NOW)).expect("valid");
    assert_eq!(proof.jkt, client.jkt());
    assert_eq!(proof.jkt.len(), 43);
    assert_eq!((proof.jti.as_str(), proof.iat), ("j-1", NOW));
    assert_ne!(Client::new(8).jkt(), client.jkt());
}

#[test]
fn a_proof_with_a_nonce_or_extra_claims_is_accepted() {
    let client = Client::new(7);
    let mut claims = Client::claims("j", "POST", URL, NOW);
    claims.insert("nonce".into(), json!("server-nonce"));
    claims.insert("ath".into(), json!("ignored-at-the-token-endpoint"));
    assert!(check(&client.sign(&client.header(), &claims), &expect_post(NOW)).is_ok());
}

// --- header rules ------------------------------------------------------------------------------------

#[test]
fn alg_none_is_refused() {
    let client = Client::new(7);
    let mut header = client.header();
    header.insert("alg".into(), json!("none"));
    let signed = client.sign(&header, &Client::claims("j", "POST", URL, NOW));
    let unsigned = format!("{}.", signed.rsplit_once('.').unwrap().0);
    assert_eq!(check(&unsigned, &expect_post(NOW)), Err(DpopError::Alg));
    assert_eq!(check(&signed, &expect_post(NOW)), Err(DpopError::Alg));
}

#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    let client = Client::new(7);
    let mut header = client.header();
    header.insert("alg".into(), json!("HS256"));
    let input = format!(
        "{}.{}",
        b64::encode(Value::Object(header).to_string().as_bytes()),
        b64::encode(
            Value::Object(Client::claims("j", "POST", URL, NOW))
                .to_string()
                .as_bytes()
        )
    );
    // The classic confusion: the public key (as the JWK text) used as the HMAC secret.
    let mac = hmac_sha256::HMAC::mac(input.as_bytes(), client.jwk.to_string().as_bytes());
    let forged = format!("{input}.{}", b64::encode(&mac));
    assert_eq!(check(&forged, &expect_post(NOW)), Err(DpopError::Alg));
}

#[test]
fn other_asymmetric_algs_and_a_missing_alg_are_refused() {
    let client = Client::new(7);
    for alg in [
        json!("RS256"),
        json!("EdDSA"),
        json!("ES384"),
        json!("es256"),
        json!(null),
    ] {
        let mut header = client.header();
        header.insert("alg".into(), alg.clone());
        let proof = client.sign(&header, &Client::claims("j", "POST", URL, NOW));
        assert_eq!(
            check(&proof, &expect_post(NOW)),
            Err(DpopError::Alg),
            "alg {alg}"
        );
    }
}

#[test]
fn typ_must_be_exactly_dpop_jwt() {
    let client = Client::new(7);
    for typ in [
        json!("JWT"),
        json!("at+jwt"),
        json!("DPOP+JWT"),
        json!(null),
    ] {
        let mut header = client.header();
        header.insert("typ".into(), typ.clone());
        let proof = client.sign(&header, &Client::claims("j", "POST", URL, NOW));
        assert_eq!(
            check(&proof, &expect_post(NOW)),
            Err(DpopError::Typ),
            "typ {typ}"
        );
    }
}

#[test]
fn a_jwk_with_private_parts_is_refused() {
    let client = Client::new(7);
    let mut header = client.header();
    let d = b64::encode(&client.key.to_bytes());
    header["jwk"]["d"] = json!(d);
    let proof = client.sign(&header, &Client::claims("j", "POST", URL, NOW));
    assert_eq!(check(&proof, &expect_post(NOW)), Err(DpopError::PrivateKey));
    // Symmetric key material too.
    let mut header = client.header();
    header["jwk"]["k"] = json!("c2VjcmV0");
    let proof = client.sign(&header, &Client::claims("j", "POST", URL, NOW));
    assert_eq!(check(&proof, &expect_post(NOW)), Err(DpopError::PrivateKey));
}

#[test]
fn a_jwk_that_is_not_a_p256_public_key_is_refused() {
    let client = Client::new(7);
    let claims = Client::claims("j", "POST", URL, NOW);
    type Change = Box<dyn Fn(&mut Map<String, Value>)>;
    let variants: Vec<Change> = vec![
        Box::new(|h| {
            h.remove("jwk");
        }),
        Box::new(|h| h["jwk"] = json!("not an object")),
        Box::new(|h| h["jwk"]["crv"] = json!("P-384")),
        Box::new(|h| h["jwk"]["kty"] = json!("OKP")),
        Box::new(|h| h["jwk"]["x"] = json!("AAAA")),
        Box::new(|h| {
            h["jwk"].as_object_mut().unwrap().remove("y");
        }),
        // 32 bytes each, but not a point on the curve.
        Box::new(|h| h["jwk"]["y"] = json!(b64::encode(&[1u8; 32]))),
    ];
    for (i, change) in variants.iter().enumerate() {
        let mut header = client.header();
        change(&mut header);
        let proof = client.sign(&header, &claims);
        assert_eq!(
            check(&proof, &expect_post(NOW)),
            Err(DpopError::Jwk),
            "variant {i}"
        );
    }
}

#[test]
fn a_crit_header_is_refused() {
    let client = Client::new(7);
    let mut header = client.header();
    header.insert("crit".into(), json!(["exp"]));
    let proof = client.sign(&header, &Client::claims("j", "POST", URL, NOW));
    assert_eq!(check(&proof, &expect_post(NOW)), Err(DpopError::Malformed));
}

// --- signature ---------------------------------------------------------------------------------------

#[test]
fn a_bad_signature_is_refused() {
    let client = Client::new(7);
    let proof = client.proof("j");
    let (input, sig) = proof.rsplit_once('.').unwrap();
    let mut bytes = b64::decode(sig).unwrap();
    bytes[10] ^= 1;
    let flipped = format!("{input}.{}", b64::encode(&bytes));
    assert_eq!(
        check(&flipped, &expect_post(NOW)),
        Err(DpopError::Signature)
    );
    // Signed by another key than the header's.
    let thief = Client::new(9);
    let forged = thief.sign(&client.header(), &Client::claims("j", "POST", URL, NOW));
    assert_eq!(check(&forged, &expect_post(NOW)), Err(DpopError::Signature));
    // A changed claim breaks the signature.
    let (h, rest) = proof.split_once('.').unwrap();
    let (_, s) = rest.split_once('.').unwrap();
    let other = Client::claims("j2", "POST", URL, NOW);
    let tampered = format!(
        "{h}.{}.{s}",
        b64::encode(Value::Object(other).to_string().as_bytes())
    );
    assert_eq!(
        check(&tampered, &expect_post(NOW)),
        Err(DpopError::Signature)
    );
    // Wrong signature length (DER instead of r||s, truncated).
    let short = format!("{input}.{}", b64::encode(&bytes[..63]));
    assert_eq!(check(&short, &expect_post(NOW)), Err(DpopError::Signature));
}

// --- claims ------------------------------------------------------------------------------------------

#[test]
fn wrong_htm_is_refused() {
    let client = Client::new(7);
    for htm in ["GET", "post", "PUT"] {
        let proof = client.sign(&client.header(), &Client::claims("j", htm, URL, NOW));
        assert_eq!(
            check(&proof, &expect_post(NOW)),
            Err(DpopError::Method),
            "{htm}"
        );
    }
}

#[test]
fn wrong_htu_is_refused() {
    let client = Client::new(7);
    for htu in [
        "https://auth.example.com/auth/login",
        "https://auth.example.com/auth/refresh/",
        "http://auth.example.com/auth/refresh",
        "https://auth.example.com:8443/auth/refresh",
        "https://evil.example.com/auth/refresh",
        "https://user@auth.example.com/auth/refresh",
        "/auth/refresh",
        "",
    ] {
        let proof = client.sign(&client.header(), &Client::claims("j", "POST", htu, NOW));
        assert_eq!(
            check(&proof, &expect_post(NOW)),
            Err(DpopError::Url),
            "{htu}"
        );
    }
}

#[test]
fn htu_is_compared_normalised_without_query_and_fragment() {
    let client = Client::new(7);
    for htu in [
        "HTTPS://Auth.Example.COM/auth/refresh",
        "https://auth.example.com:443/auth/refresh",
        "https://auth.example.com/auth/refresh?x=1",
        "https://auth.example.com/auth/refresh#frag",
        "https://auth.example.com/%61uth/refresh",
        "https://auth.example.com/auth/./x/../refresh",
    ] {
        let proof = client.sign(&client.header(), &Client::claims("j", "POST", htu, NOW));
        assert!(check(&proof, &expect_post(NOW)).is_ok(), "{htu}");
    }
    // The request URL is normalised the same way.
    let proof = client.proof("j");
    let want = Expect {
        url: "https://AUTH.example.com:443/auth/refresh?q",
        ..expect_post(NOW)
    };
    assert!(check(&proof, &want).is_ok());
}

#[test]
fn normalize_htu_rules() {
    let n = |u: &str| normalize_htu(u);
    assert_eq!(
        n("HTTP://Example.com").as_deref(),
        Some("http://example.com/")
    );
    assert_eq!(
        n("http://example.com:80/a").as_deref(),
        Some("http://example.com/a")
    );
    assert_eq!(
        n("http://example.com:/a").as_deref(),
        Some("http://example.com/a")
    );
    assert_eq!(
        n("https://example.com:80/a").as_deref(),
        Some("https://example.com:80/a")
    );
    assert_eq!(
        n("http://127.0.0.1:08787/a").as_deref(),
        Some("http://127.0.0.1:8787/a")
    );
    assert_eq!(
        n("http://[::1]:8787/a?b#c").as_deref(),
        Some("http://[::1]:8787/a")
    );
    assert_eq!(n("http://[::1]/a").as_deref(), Some("http://[::1]/a"));
    assert_eq!(
        n("http://e.com/a%2fb%7e").as_deref(),
        Some("http://e.com/a%2Fb~")
    );
    assert_eq!(
        n("http://e.com/a/b/../../c/").as_deref(),
        Some("http://e.com/c/")
    );
    assert_eq!(n("http://e.com/a/..").as_deref(), Some("http://e.com/"));
    for bad in [
        "ftp://e.com/",
        "http:/e.com/",
        "http://",
        "http://u:p@e.com/",
        "http://e.com:99999/",
        "http://e.com:8a/",
        "http://[::1]x/",
        "http://e.com/%zz",
        "http://e.com/%4",
        "http://e.com/a b",
        "e.com/a",
    ] {
        assert_eq!(n(bad), None, "{bad}");
    }
}

#[test]
fn old_and_future_iat_are_refused_at_the_window_edge() {
    let client = Client::new(7);
    let at = |iat: u64| client.sign(&client.header(), &Client::claims("j", "POST", URL, iat));
    assert!(check(&at(NOW - IAT_WINDOW), &expect_post(NOW)).is_ok());
    assert_eq!(
        check(&at(NOW - IAT_WINDOW - 1), &expect_post(NOW)),
        Err(DpopError::TooOld)
    );
    assert_eq!(
        check(&at(NOW - 86_400), &expect_post(NOW)),
        Err(DpopError::TooOld)
    );
    assert!(check(&at(NOW + IAT_WINDOW), &expect_post(NOW)).is_ok());
    assert_eq!(
        check(&at(NOW + IAT_WINDOW + 1), &expect_post(NOW)),
        Err(DpopError::Future)
    );
    assert_eq!(
        check(&at(u64::MAX / 2), &expect_post(NOW)),
        Err(DpopError::Future)
    );
}

#[test]
fn missing_or_mistyped_claims_are_refused() {
    let client = Client::new(7);
    let base = Client::claims("j", "POST", URL, NOW);
    let variants: Vec<(&str, Value)> = vec![
        ("jti", Value::Null),
        ("jti", json!("")),
        ("jti", json!("x".repeat(129))),
        ("jti", json!(17)),
        ("htm", Value::Null),
        ("htu", json!(["https://auth.example.com/auth/refresh"])),
        ("iat", Value::Null),
        ("iat", json!("1700000000")),
        ("iat", json!(1_700_000_000.5)),
        ("iat", json!(-1)),
    ];
    for (name, value) in variants {
        let mut claims = base.clone();
        if value.is_null() {
            claims.remove(name);
        } else {
            claims.insert(name.into(), value.clone());
        }
        let proof = client.sign(&client.header(), &claims);
        assert_eq!(
            check(&proof, &expect_post(NOW)),
            Err(DpopError::Claims),
            "{name} = {value}"
        );
    }
    let mut claims = base;
    claims.insert("jti".into(), json!("x".repeat(128)));
    assert!(check(&client.sign(&client.header(), &claims), &expect_post(NOW)).is_ok());
}

#[test]
fn wrong_or_missing_ath_is_refused_at_a_resource() {
    let client = Client::new(7);
    let token = "eyJhbGciOiJFZERTQSJ9.e30.c2ln";
    let want = Expect {
        method: "GET",
        url: "https://auth.example.com/api/me",
        now: NOW,
        window: IAT_WINDOW,
        access_token: Some(token),
    };
    let mut claims = Client::claims("j", "GET", "https://auth.example.com/api/me", NOW);
    assert_eq!(
        check(&client.sign(&client.header(), &claims), &want),
        Err(DpopError::Ath)
    );
    claims.insert("ath".into(), json!(ath("another token")));
    assert_eq!(
        check(&client.sign(&client.header(), &claims), &want),
        Err(DpopError::Ath)
    );
    claims.insert("ath".into(), json!(ath(token)));
    assert!(check(&client.sign(&client.header(), &claims), &want).is_ok());
}

#[test]
fn malformed_proofs_are_refused_without_panicking() {
    let client = Client::new(7);
    let good = client.proof("j");
    let (h, rest) = good.split_once('.').unwrap();
    let too_long = format!("{}.{}.x", "A".repeat(MAX_PROOF_LEN), "A");
    for bad in [
        String::new(),
        "a.b".into(),
        "a.b.c.d".into(),
        format!("{good}.x"),
        format!("{good}, {good}"), // two DPoP headers, joined by the runtime
        format!("{h}=.{rest}"),    // padding
        format!("{h}.!!.{}", rest.split_once('.').unwrap().1),
        format!("{}.{rest}", b64::encode(b"[1,2]")),
        format!("{}.{rest}", b64::encode(b"{\"typ\":\"dpop+jwt\",")),
        format!("{}.{rest}", b64::encode(&[0xff, 0xfe])),
        too_long,
    ] {
        let got = check(&bad, &expect_post(NOW));
        assert!(got == Err(DpopError::Malformed), "{bad:.40}: {got:?}");
    }
}

// --- replay cache --------------------------------------------------------------------------------------

#[test]
fn a_replayed_jti_is_refused_by_the_cache_and_scoped_by_key() {
    let store = MemoryStore::new();
    store.set_time(NOW);
    let cache = KvReplayCache(&store);
    let client = Client::new(7);
    let first = check(&client.proof("same-jti"), &expect_post(NOW)).unwrap();
    let ttl = first.replay_ttl(NOW, IAT_WINDOW);
    assert!(run(cache.first_use(&first.replay_key(), ttl)).unwrap());
    // The same proof again (or another proof by the same key with the same jti): a replay.
    let again = check(&client.proof("same-jti"), &expect_post(NOW + 5)).unwrap();
    assert_eq!(again.replay_key(), first.replay_key());
    assert!(!run(cache.first_use(&again.replay_key(), ttl)).unwrap());
    // Another key may use the same jti.
    let other = check(&Client::new(8).proof("same-jti"), &expect_post(NOW)).unwrap();
    assert_ne!(other.replay_key(), first.replay_key());
    assert!(run(cache.first_use(&other.replay_key(), ttl)).unwrap());
    // Remembered while the proof could still be accepted, forgotten after.
    store.set_time(NOW + IAT_WINDOW);
    assert!(!run(cache.first_use(&first.replay_key(), ttl)).unwrap());
    assert_eq!(
        check(&client.proof("same-jti"), &expect_post(NOW + ttl)),
        Err(DpopError::TooOld),
        "when the cache entry expires, the proof's iat has left the window"
    );
}

#[test]
fn replay_ttl_covers_the_window_and_respects_kv_minimum() {
    let p = |iat| Proof {
        jkt: "k".into(),
        jti: "j".into(),
        iat,
    };
    // A proof from the future stays remembered until its iat has left the window.
    assert_eq!(p(NOW + 60).replay_ttl(NOW, 60), 121);
    assert_eq!(p(NOW).replay_ttl(NOW, 60), 61);
    assert_eq!(p(NOW - 60).replay_ttl(NOW, 60), 60); // KV's minimum
    assert!(p(NOW).replay_key().starts_with("j:"));
    assert_eq!(p(NOW).replay_key().len(), 2 + 43);
}
