//! The `corral` binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corral_net::config::Config;
use corral_net::server;

/// Corral: a ZooKeeper-compatible coordination service.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server (standalone). Without --config: 127.0.0.1:2181, data in ./corral-data.
    Server {
        /// A ZooKeeper zoo.cfg file.
        #[arg(long, value_name = "zoo.cfg")]
        config: Option<PathBuf>,
    },
    /// Load generator for any ZooKeeper-compatible ensemble; verifies every reply.
    Bench(corral_net::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match cli.command {
        Command::Server { config } => run_server(config),
        Command::Bench(args) => corral_net::bench::main(args),
    }
}

fn run_server(path: Option<PathBuf>) -> ExitCode {
    let config = match &path {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("corral: configuration error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("corral: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corral: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let (data, log) = (config.data_dir.clone(), config.data_log_dir.clone());
    let mut handle = server::start(config).await?;
    tracing::info!("data in {}, log in {}", data.display(), log.display());
    println!("corral serving on {}", handle.local_addr());
    let finished = tokio::select! {
        r = handle.wait() => Some(r),
        s = shutdown_signal() => {
            s?;
            None
        }
    };
    match finished {
        Some(r) => r.map_err(|e| anyhow::anyhow!("fatal, stopped: {e}"))?,
        None => {
            tracing::info!("shutting down");
            handle.stop().await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
