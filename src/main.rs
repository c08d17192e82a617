//! Thin entry point: everything lives in the library so tests and benches reach it.

fn main() -> anyhow::Result<()> {
    switchyard::cli::run()
}
