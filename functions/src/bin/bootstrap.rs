//! The one `bootstrap` binary: runs the handler named by `argv[1]` or `_HANDLER`.

fn main() -> std::process::ExitCode {
    tern_functions::bootstrap().run()
}
