//! Command line: every flag also reads an environment variable, shown by `--help`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "toposync-streaming",
    version,
    about = "Publishes camera and pipeline video over RTSP, HLS, WebRTC, MSE and JSMpeg.",
    after_help = "Environment:\n  TOPOSYNC_LOG   log filter for stderr: error|warn|info|debug|trace, or per target \
                  (e.g. warn,toposync_actors=debug); default info"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service: the HTTP API under /api/streams and the actor tree behind it.
    Serve(ServeArgs),
    /// Write a transmission's live video (MPEG-TS, over the JSMpeg WebSocket) to stdout, e.g.
    /// `toposync-streaming watch tx-camera-demo-main-main | ffplay -`. Needs no engine.
    Watch(WatchArgs),
    /// Manage the API credentials (docs/security.md).
    Auth(AuthArgs),
    /// Run by the engine (MediaMTX `runOnDemand`) when a reader waits for a path: demands the
    /// path from the service until the engine stops it. Not for people.
    #[command(hide = true)]
    EngineHook,
}

#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
    #[command(flatten)]
    pub data: DataDir,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuthCommand {
    /// Replace a credential's token and print the new one (once). Every browser session ends;
    /// a running service picks the change up within a second.
    Rotate {
        /// `admin` or `viewer`.
        #[arg(long, value_parser = ["admin", "viewer"])]
        role: String,
    },
}

/// Where settings and runtime files live (settings file, engine config, logs, secrets).
#[derive(Args, Debug, Clone)]
pub struct DataDir {
    /// Default: ~/.toposync
    #[arg(long, env = "TOPOSYNC_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl DataDir {
    pub fn path(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".toposync")
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// The transmission to watch.
    pub transmission_id: String,
    /// Which HLS output's picture (default: the first).
    #[arg(long)]
    pub output_id: Option<String>,
    /// Where the service's API is.
    #[arg(long, default_value = "http://127.0.0.1:8100")]
    pub api: String,
    /// A viewer or admin token; without it, a viewer session is signed with the key in the
    /// data dir (a local user who can read it may watch).
    #[arg(long, env = "TOPOSYNC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub data: DataDir,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address the HTTP API listens on. Use 0.0.0.0 to serve the LAN.
    #[arg(long, env = "TOPOSYNC_STREAMING_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// HTTP API port; 0 picks a free port (the chosen address is printed on stdout).
    #[arg(long, env = "TOPOSYNC_STREAMING_PORT", default_value_t = 8100)]
    pub port: u16,

    #[command(flatten)]
    pub data: DataDir,

    /// Register (once) a demo camera whose sources are generated test patterns
    /// (`demo:1280x720` main, `demo:640x360` sub), published like any camera: no camera needed.
    #[arg(long, env = "TOPOSYNC_STREAMING_DEMO")]
    pub demo: bool,
}

impl ServeArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data.path()
    }
}
