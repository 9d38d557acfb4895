//! The benchmark's tern `api` function: the `api` handler alone on tern's runtime (registry,
//! invocation span, panic guard, logging, metrics layer), as a team serving one HTTP API would
//! build it, so that its cold init and warm time compare with the bare `lambda_http` function
//! serving the same router. The shipped bootstrap, with every example handler registered, is
//! measured next to it when the harness is given `--bootstrap`. Run as `api`.

fn main() -> std::process::ExitCode {
    tern_runtime::Bootstrap::new()
        .handler("api", tern_functions::api::build)
        .run()
}
