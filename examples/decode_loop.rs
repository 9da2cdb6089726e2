//! Decodes one request body many times, for measurements that hold up on a shared machine:
//!
//! - `decode_loop FILE ITERATIONS [decode|floor]` runs that many decodes (or bare
//!   `serde_json::Value` parses, the benchmark's floor), for profilers that count rather than
//!   time.
//! - `decode_loop FILE ITERATIONS best [ROUNDS]` times rounds of ITERATIONS decodes and as many
//!   floor parses, interleaved, and prints the fastest round of each (µs per body): a
//!   neighbour's burst slows some rounds, never speeds one up. `bench/decode-compare.sh` runs it.

use std::hint::black_box;
use std::time::Instant;

use lookout::report::{self, Options};

#[path = "../benches/shared/request.rs"]
mod request;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: decode_loop FILE ITERATIONS [decode|floor|best [ROUNDS]]";
    let path = args.next().expect(usage);
    let iterations: u64 = args.next().map_or(1, |n| n.parse().expect(usage));
    let mode = args.next().unwrap_or_else(|| "decode".to_owned());
    let body = std::fs::read(&path).expect("a readable file");
    let opts = Options::default();
    let meta = request::meta();
    let decode = |n: u64| {
        let mut reports = 0;
        for _ in 0..n {
            let batch = report::decode(black_box(&body), &meta, &opts).expect("a decodable body");
            reports += batch.reports.len();
        }
        reports
    };
    let floor = |n: u64| {
        let mut values = 0;
        for _ in 0..n {
            let value: serde_json::Value = serde_json::from_slice(black_box(&body)).expect("JSON");
            values += usize::from(!value.is_null());
        }
        values
    };
    match mode.as_str() {
        "decode" => println!("{} reports", decode(iterations)),
        "floor" => println!("{} values", floor(iterations)),
        "best" => {
            let rounds: u32 = args.next().map_or(30, |n| n.parse().expect(usage));
            let per_body = |run: &dyn Fn(u64) -> usize| {
                let start = Instant::now();
                black_box(run(iterations));
                start.elapsed().as_secs_f64() * 1e6 / iterations as f64
            };
            let (mut best_decode, mut best_floor) = (f64::MAX, f64::MAX);
            for _ in 0..rounds {
                best_decode = best_decode.min(per_body(&decode));
                best_floor = best_floor.min(per_body(&floor));
            }
            let reports = decode(1);
            println!("{reports} {best_decode:.3} {best_floor:.3}");
        }
        _ => panic!("{usage}"),
    }
}
