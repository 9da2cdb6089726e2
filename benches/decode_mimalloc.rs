//! Decode throughput with the local server's allocator (mimalloc, as `lookout serve` runs),
//! next to the same floor. Run: `cargo bench --bench decode_mimalloc`.

use criterion::{Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "shared/decode_cases.rs"]
mod cases;
#[path = "shared/request.rs"]
mod request;

fn bench(c: &mut Criterion) {
    cases::bench(c, "@mimalloc");
}

criterion_group!(benches, bench);
criterion_main!(benches);
