//! Decodes one request body many times, for profilers that count rather than time
//! (`valgrind --tool=callgrind`, `perf stat`): on a shared machine, instruction counts are
//! steadier than criterion's timings. `bench/decode-instructions.sh` runs it.
//!
//! `cargo run --release --example decode_loop -- FILE [ITERATIONS] [floor]`: with `floor`, a
//! bare `serde_json::Value` parse of the body instead (the benchmark's floor).

use std::hint::black_box;

use lookout::report::{self, Options, RequestMeta, Timestamp};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: decode_loop FILE [ITERATIONS] [floor]");
    let iterations: u64 = args.next().map_or(1, |n| n.parse().expect("a count"));
    let floor = args.next().as_deref() == Some("floor");
    let body = std::fs::read(&path).expect("a readable file");
    let opts = Options::default();
    let meta = RequestMeta {
        site: Some("example.com"),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
        ),
        received_at: Timestamp(1_795_305_600_000),
        endpoint: None,
    };
    let mut reports = 0;
    if floor {
        for _ in 0..iterations {
            let value: serde_json::Value = serde_json::from_slice(black_box(&body)).expect("JSON");
            reports += usize::from(!value.is_null());
        }
        println!("{reports} values");
        return;
    }
    for _ in 0..iterations {
        let batch = report::decode(black_box(&body), &meta, &opts).expect("a decodable body");
        reports += batch.reports.len();
    }
    println!("{reports} reports");
}
