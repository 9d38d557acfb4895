//! The benchmark's tern `api` function: the one bootstrap with every example handler
//! registered (`tern_functions::bootstrap()`, what `functions/src/bin/bootstrap.rs` runs), built
//! with the release profile next to the bare function it is compared with. Run as `api`.

fn main() -> std::process::ExitCode {
    tern_functions::bootstrap().run()
}
