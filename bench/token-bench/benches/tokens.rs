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

criterion_group!(benches, tokens);
criterion_main!(benches);
