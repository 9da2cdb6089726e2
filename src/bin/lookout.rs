//! The `lookout` command: local collector, queries, header snippets.

/// mimalloc: allocation is a large share of the local server's work per report, and mimalloc
/// takes about half the system allocator's time for it (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit` in mimalloc's `mi_option_e` (v3, the crate's default).
#[cfg(target_os = "linux")]
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Commits arena memory as it is used rather than up front, so that the resident size under
/// load stays near that of the live data (BENCHMARKS.md: 33 -> 23 MiB peak at the same
/// throughput). It must run before the first allocation reserves an arena, which is before
/// `main`: hence a process constructor, an ELF `.init_array` entry, so Linux only; elsewhere
/// mimalloc keeps its default (a larger resident size, nothing else).
#[cfg(target_os = "linux")]
extern "C" fn configure_allocator() {
    // SAFETY: stores an option value; no allocation, no other state touched.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static CONFIGURE_ALLOCATOR: extern "C" fn() = configure_allocator;

fn main() -> std::process::ExitCode {
    lookout::cli::main()
}
