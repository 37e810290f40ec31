//! Native token work with criterion: access-token sign and verify (Ed25519 via jwt-simple,
//! as the Worker does it) and a full rotation over the in-memory store.
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use token_bench::Fixture;

fn tokens(c: &mut Criterion) {
    let mut f = Fixture::new();
    let token = f.sign();
    assert!(f.verify(&token));
    let mut g = c.benchmark_group("token");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(50);
    g.bench_function("sign", |b| b.iter(|| black_box(f.sign())));
    g.bench_function("verify", |b| b.iter(|| black_box(f.verify(black_box(&token)))));
    g.bench_function("rotate", |b| b.iter(|| black_box(f.rotate())));
    g.finish();
}

/// Sealing and opening a provider sign-in's grant (AES-256-GCM under UPSTREAM_TOKEN_KEY, the
/// family as associated data): a rotation that does not reach the provider opens it and, since
/// the provider's tokens did not change, no longer seals it again.
fn grant(c: &mut Criterion) {
    use silent_refresh::core::server::oidc::upstream::Grant;
    use silent_refresh::core::server::oidc::{AccessTokenSource, UpstreamConfig};
    use silent_refresh::core::server::secret::Secret;
    let cfg = UpstreamConfig {
        issuer: "https://id.example".into(),
        client_id: "edge".into(),
        client_secret: None,
        scopes: "openid".into(),
        auth_params: vec![],
        token_key: Secret::new(vec![7u8; 32]),
        access_token_source: AccessTokenSource::Worker,
        post_logout_redirect: None,
        claims: vec![],
    };
    // Sizes like a real provider's: opaque refresh and access tokens, an ID token of ~900 bytes.
    let g = Grant { rt: Some("r".repeat(64)), at: "a".repeat(43), exp: 2_000_000_000, idt: Some("i".repeat(900)) };
    let fam = "f".repeat(22);
    let sealed = g.seal(&cfg, &fam).unwrap();
    let mut group = c.benchmark_group("grant");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(50);
    group.bench_function("seal", |b| b.iter(|| black_box(g.seal(&cfg, black_box(&fam)))));
    group.bench_function("open", |b| b.iter(|| black_box(Grant::open(&cfg, &fam, black_box(&sealed)))));
    group.finish();
}

criterion_group!(benches, tokens, grant);
criterion_main!(benches);
