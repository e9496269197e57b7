//! The `corral` binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corral_net::config::Config;
use corral_net::server;

// glibc's malloc was a sixth of a loaded leader's CPU (many small, short-lived
// allocations across the tokio worker threads); mimalloc's thread-local free lists do the
// same work for much less, and return memory to the OS more readily.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Corral: a ZooKeeper-compatible coordination service.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server: standalone, or an ensemble member when the config has server.N lines.
    /// Without --config: standalone on 127.0.0.1:2181, data in ./corral-data.
    Server {
        /// A ZooKeeper zoo.cfg file.
        #[arg(long, value_name = "zoo.cfg")]
        config: Option<PathBuf>,
    },
    /// Offline tools for a data directory (docs/storage.md).
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Load generator for any ZooKeeper-compatible ensemble; verifies every reply.
    Bench(corral_net::bench::BenchArgs),
    /// Write the configs of a local ensemble (DIR/sN/zoo.cfg, DIR/sN/data/myid, everything
    /// on 127.0.0.1) and run one server per member until Ctrl-C (docs/operations.md).
    Ensemble {
        /// Number of members.
        #[arg(long, default_value_t = 3)]
        size: u16,
        /// Directory holding one sN/ directory per member.
        #[arg(long)]
        dir: PathBuf,
        /// Client port of member 1; member N listens for clients on base+N-1, for peers on
        /// base+100+N-1 (election port base+200+N-1, written but unused).
        #[arg(long, default_value_t = corral_net::ensemble::DEFAULT_BASE_PORT)]
        base_port: u16,
        /// Only write the files, then print the connect string.
        #[arg(long)]
        write_only: bool,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Print the snapshots and log records of a data directory (changes nothing).
    Inspect {
        /// dataDir.
        dir: PathBuf,
        /// dataLogDir, if separate.
        #[arg(long)]
        log_dir: Option<PathBuf>,
        /// Also print every node and session of each snapshot.
        #[arg(long)]
        nodes: bool,
        /// Do not print the log records (only the summary).
        #[arg(long)]
        no_log: bool,
    },
    /// Check every checksum and the digest chain from snapshot to snapshot (changes nothing).
    Verify {
        dir: PathBuf,
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
    /// Cut a damaged log (or set aside unusable snapshots) so the server can start; every
    /// byte removed is kept in a quarantine directory. Without --apply, only prints the plan.
    Repair {
        dir: PathBuf,
        #[arg(long)]
        log_dir: Option<PathBuf>,
        #[arg(long)]
        apply: bool,
    },
    /// Convert a ZooKeeper 3.8 data directory into a new Corral data directory.
    ImportZookeeper {
        /// ZooKeeper's dataDir (holding version-2/).
        zk_data_dir: PathBuf,
        /// The Corral dataDir to create (must hold no Corral data yet).
        corral_data_dir: PathBuf,
        /// ZooKeeper's dataLogDir, if separate.
        #[arg(long)]
        zk_log_dir: Option<PathBuf>,
    },
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
        Command::Data { command } => run_data(command),
        Command::Ensemble {
            size,
            dir,
            base_port,
            write_only,
        } => run_ensemble(size, &dir, base_port, write_only),
    }
}

fn run_data(command: DataCommand) -> ExitCode {
    use corral_net::datatool::{self, Dirs};
    let mut out = std::io::stdout().lock();
    let result: anyhow::Result<bool> = match command {
        DataCommand::Inspect {
            dir,
            log_dir,
            nodes,
            no_log,
        } => {
            let opts = datatool::inspect::InspectOptions { nodes, no_log };
            datatool::inspect(&Dirs::new(&dir, log_dir.as_deref()), opts, &mut out)
                .map(|()| true)
                .map_err(Into::into)
        }
        DataCommand::Verify { dir, log_dir } => {
            datatool::verify(&Dirs::new(&dir, log_dir.as_deref()), &mut out)
                .map(|v| v.problems.is_empty())
                .map_err(Into::into)
        }
        DataCommand::Repair {
            dir,
            log_dir,
            apply,
        } => datatool::repair(&Dirs::new(&dir, log_dir.as_deref()), apply, &mut out)
            .map(|_| true)
            .map_err(Into::into),
        DataCommand::ImportZookeeper {
            zk_data_dir,
            corral_data_dir,
            zk_log_dir,
        } => datatool::import_zookeeper(
            &zk_data_dir,
            zk_log_dir.as_deref(),
            &Dirs::new(&corral_data_dir, None),
            &mut out,
        )
        .map(|_| true)
        .map_err(Into::into),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("corral data: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_ensemble(size: u16, dir: &std::path::Path, base_port: u16, write_only: bool) -> ExitCode {
    use corral_net::ensemble::{supervise, Layout};
    let written = Layout::new(size, dir, base_port).and_then(|l| l.write().map(|()| l));
    let layout = match written {
        Ok(l) => l,
        Err(e) => {
            eprintln!("corral ensemble: {e}");
            return ExitCode::from(2);
        }
    };
    for n in layout.members() {
        println!("server {n}: {}", layout.config_path(n).display());
    }
    if write_only {
        println!("connect string: {}", layout.connect_string());
        return ExitCode::SUCCESS;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("corral ensemble: cannot find this program's path: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("corral ensemble: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(supervise(&layout, &exe)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("corral ensemble: {e}");
            ExitCode::FAILURE
        }
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
