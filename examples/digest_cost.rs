//! What one SHA-256 digest costs on this machine, for inputs of the sizes decoding hashes (a
//! legacy CSP report's grouping key is 74 bytes and its id's input 342): the fastest of many
//! rounds, in ns per digest and per 64-byte block compressed.
//!
//! `cargo run --release --example digest_cost -- [BYTES...]` (default: 55 74 342).

use std::hint::black_box;
use std::time::Instant;

use sha2::{Digest, Sha256};

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("usage: digest_cost [BYTES...]"))
        .collect();
    if sizes.is_empty() {
        sizes = vec![55, 74, 342];
    }
    const ITERATIONS: u32 = 200_000;
    println!("| input bytes | blocks | ns per digest | ns per block |");
    println!("| --- | --- | --- | --- |");
    for n in sizes {
        let input: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let mut best = f64::MAX;
        for _ in 0..30 {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                black_box(Sha256::digest(black_box(&input)));
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e9 / f64::from(ITERATIONS));
        }
        // The message, its 0x80 byte and its 8-byte length, in whole blocks.
        let blocks = (n + 9).div_ceil(64);
        println!(
            "| {n} | {blocks} | {best:.1} | {:.1} |",
            best / blocks as f64
        );
    }
}
