//! The `cmdb` binary: a thin shell over [`cmdb_app::cli`].

fn main() -> std::process::ExitCode {
    cmdb_app::cli::main_with_args(std::env::args_os())
}
