//! A child process owned by exactly one actor.
//!
//! The process runs in its own process group (so a stop reaches its own children), dies with the
//! service even on SIGKILL (`PR_SET_PDEATHSIG`), and is watched by a guard task that reports an
//! unexpected exit, or on request (or when the owner drops its handle) stops the group with
//! SIGINT, then SIGKILL after a grace period, and always reaps it.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::oneshot;

/// How long a stopped process gets to exit after SIGINT before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How a stop request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Exited within the grace period after SIGINT.
    Gracefully,
    /// Needed SIGKILL.
    Killed,
    /// Had already exited on its own.
    AlreadyExited,
}

/// The pipes of the child, for the owner to use.
pub struct ChildIo {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

pub struct OwnedProcess {
    pid: u32,
    stop: Option<oneshot::Sender<Duration>>,
    done: oneshot::Receiver<Stopped>,
}

impl OwnedProcess {
    /// Spawns `command`. `on_exit` runs only if the process exits on its own (not after a stop).
    /// Call it from an async task (a runtime worker thread), never from `spawn_blocking`: the
    /// parent-death signal fires when the spawning *thread* exits.
    pub fn spawn(
        mut command: Command,
        on_exit: impl FnOnce(io::Result<ExitStatus>) + Send + 'static,
    ) -> io::Result<(OwnedProcess, ChildIo)> {
        command.process_group(0).kill_on_drop(true);
        // SAFETY: prctl, signal and sigprocmask are async-signal-safe and only affect the child
        // being set up.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // A service started as a shell's background job has SIGINT and SIGQUIT ignored,
                // and exec keeps ignored signals ignored: the child would never hear the
                // graceful stop. Every child starts with default dispositions and no mask.
                for signal in [
                    libc::SIGINT,
                    libc::SIGTERM,
                    libc::SIGQUIT,
                    libc::SIGHUP,
                    libc::SIGPIPE,
                ] {
                    libc::signal(signal, libc::SIG_DFL);
                }
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the child exited while spawning"))?;
        let io = ChildIo {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(guard(child, pid, stop_rx, done_tx, on_exit));
        Ok((
            OwnedProcess {
                pid,
                stop: Some(stop_tx),
                done: done_rx,
            },
            io,
        ))
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the process group (SIGINT, then SIGKILL after `grace`) and waits until reaped.
    pub async fn stop(mut self, grace: Duration) -> Stopped {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        (&mut self.done).await.unwrap_or(Stopped::AlreadyExited)
    }
}

impl Drop for OwnedProcess {
    fn drop(&mut self) {
        // An owner that dies without stopping us still must not leave the process behind:
        // the guard sees the closed channel and stops the group.
        self.stop.take();
    }
}

async fn guard(
    mut child: Child,
    pid: u32,
    stop: oneshot::Receiver<Duration>,
    done: oneshot::Sender<Stopped>,
    on_exit: impl FnOnce(io::Result<ExitStatus>),
) {
    let outcome = tokio::select! {
        status = child.wait() => {
            on_exit(status);
            Stopped::AlreadyExited
        }
        grace = stop => {
            let grace = grace.unwrap_or(STOP_GRACE);
            signal_group(pid, libc::SIGINT);
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(_) => Stopped::Gracefully,
                Err(_) => {
                    signal_group(pid, libc::SIGKILL);
                    let _ = child.wait().await;
                    Stopped::Killed
                }
            }
        }
    };
    // Whatever is left of the group (grandchildren) goes too.
    signal_group(pid, libc::SIGKILL);
    let _ = done.send(outcome);
}

fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
    unsafe {
        libc::kill(-(pgid as i32), signal);
    }
}

/// A child process and the tasks that serve its pipes. Stopping ends the tasks first (nobody
/// keeps feeding a pipe that is going away), then the process group. Dropped without a stop (its
/// actor failed, panicked or was killed), the tasks are aborted and the group is stopped all
/// the same.
#[derive(Default)]
pub struct ProcessWithTasks {
    process: Option<OwnedProcess>,
    tasks: Vec<super::OwnedTask<()>>,
}

impl ProcessWithTasks {
    pub fn set_process(&mut self, process: OwnedProcess) {
        self.process = Some(process);
    }

    pub fn spawn_task(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.push(super::OwnedTask::spawn(task));
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(OwnedProcess::pid)
    }

    /// The process exited on its own: nothing left to stop.
    pub fn exited(&mut self) {
        self.process = None;
    }

    /// Aborts the tasks and stops the process (if still there) within `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Option<Stopped> {
        self.tasks.clear();
        match self.process.take() {
            Some(process) => Some(process.stop(grace).await),
            None => None,
        }
    }
}

/// Whether a process with this PID exists (and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn sleeper(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn stop_interrupts_and_reaps() {
        let mut command = sleeper("echo ready; exec sleep 30");
        command.stdout(std::process::Stdio::piped());
        let (process, mut io) =
            OwnedProcess::spawn(command, |_| panic!("not an unexpected exit")).unwrap();
        // Stop only once the program runs: a signal that lands between fork and exec is a race
        // of the test, not of the stop.
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(io.stdout.take().unwrap()).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));
        let pid = process.pid();
        assert!(is_alive(pid));
        assert_eq!(
            process.stop(Duration::from_secs(5)).await,
            Stopped::Gracefully
        );
        assert!(!is_alive(pid));
    }

    /// Started from a shell's background job, the service itself ignores SIGINT; its children
    /// must not inherit that, or every graceful stop becomes a SIGKILL after the grace.
    #[tokio::test]
    async fn children_do_not_inherit_an_ignored_sigint() {
        // SAFETY: changes this test process's SIGINT disposition; restored below. Other tests'
        // children reset it themselves (that is what is tested).
        let previous = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        let mut command = sleeper("echo ready; exec sleep 30");
        command.stdout(std::process::Stdio::piped());
        let spawned = OwnedProcess::spawn(command, |_| {});
        unsafe { libc::signal(libc::SIGINT, previous) };
        let (process, mut io) = spawned.unwrap();
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(io.stdout.take().unwrap()).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));
        let status = std::fs::read_to_string(format!("/proc/{}/status", process.pid())).unwrap();
        let ignored = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(
            ignored & (1 << (libc::SIGINT - 1)),
            0,
            "SIGINT ignored in the child"
        );
        assert_eq!(
            process.stop(Duration::from_secs(5)).await,
            Stopped::Gracefully
        );
    }

    #[tokio::test]
    async fn a_process_ignoring_sigint_is_killed_after_the_grace() {
        let (process, _io) =
            OwnedProcess::spawn(sleeper("trap '' INT; sleep 30 & wait"), |_| {}).unwrap();
        let pid = process.pid();
        tokio::time::sleep(Duration::from_millis(100)).await; // let the shell install its trap
        assert_eq!(
            process.stop(Duration::from_millis(200)).await,
            Stopped::Killed
        );
        assert!(!is_alive(pid));
    }

    #[tokio::test]
    async fn an_unexpected_exit_is_reported() {
        let seen = Arc::new(Mutex::new(None));
        let (tx, rx) = oneshot::channel();
        let record = seen.clone();
        let (process, _io) = OwnedProcess::spawn(sleeper("exit 3"), move |status| {
            *record.lock().unwrap() = status.ok().and_then(|s| s.code());
            let _ = tx.send(());
        })
        .unwrap();
        rx.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), Some(3));
        assert_eq!(
            process.stop(Duration::from_secs(1)).await,
            Stopped::AlreadyExited
        );
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_whole_group() {
        let (process, mut io) = OwnedProcess::spawn(
            {
                let mut c = sleeper("sleep 30 & echo $!; wait");
                c.stdout(std::process::Stdio::piped());
                c
            },
            |_| {},
        )
        .unwrap();
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(io.stdout.take().unwrap()).lines();
        let grandchild: u32 = lines
            .next_line()
            .await
            .unwrap()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let pid = process.pid();
        drop(process);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while (is_alive(pid) || is_alive(grandchild)) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!is_alive(pid) && !is_alive(grandchild));
    }
}
