//! `toposync-streaming`: the service binary. CLI, configuration from the environment, and the
//! HTTP layer; everything else lives in the `toposync-actors` crate.

mod cli;
mod engine_hook;
mod http;
mod local_ingest;
mod watch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let cli::Command::EngineHook = cli.command {
        // Runs per waiting reader: no async runtime, no logging setup.
        return match engine_hook::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("toposync-streaming engine-hook: {err}");
                ExitCode::FAILURE
            }
        };
    }
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("toposync-streaming: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        cli::Command::Serve(args) => runtime.block_on(http::serve(args)),
        cli::Command::Watch(args) => runtime.block_on(watch::watch(args)),
        cli::Command::Auth(args) => auth(args),
        cli::Command::EngineHook => unreachable!("handled before the runtime starts"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("toposync-streaming: {err}");
            ExitCode::FAILURE
        }
    }
}

fn auth(args: cli::AuthArgs) -> Result<(), String> {
    match args.command {
        cli::AuthCommand::Rotate { role } => {
            let role = toposync_actors::auth::Role::parse(&role).ok_or("unknown role")?;
            let token = toposync_actors::auth::Credentials::rotate(&args.data.path(), role)?;
            println!("{token}");
            eprintln!(
                "toposync-streaming: new {} token above (shown once); browser sessions ended",
                role.name()
            );
            Ok(())
        }
    }
}

/// Logs go to stderr; `TOPOSYNC_LOG` takes `info`, `debug`, or per-target lists such as
/// `warn,toposync_actors=debug`.
fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("TOPOSYNC_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
}
