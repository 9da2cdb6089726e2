//! Decode throughput with the system allocator (the Lambda function's), next to a bare
//! `serde_json` parse of the same bytes (the floor). Run: `cargo bench --bench decode`.

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "shared/decode_cases.rs"]
mod cases;
#[path = "shared/request.rs"]
mod request;

fn bench(c: &mut Criterion) {
    cases::bench(c, "");
}

criterion_group!(benches, bench);
criterion_main!(benches);
