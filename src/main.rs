use std::process::ExitCode;

fn main() -> ExitCode {
    outrider::cli::main()
}
