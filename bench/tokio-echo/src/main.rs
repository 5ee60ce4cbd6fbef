// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// tokio-echo: TCP echo server on tokio, an opponent in the echo benchmark.
//
// usage: tokio-echo PORT [THREADS]
//
// Listens on 127.0.0.1:PORT and writes back every byte it reads, one task
// per connection. THREADS (default: the CPUs this process may run on)
// picks the runtime: 1 runs everything on tokio's current-thread runtime
// (the fastest tokio setup on one core: no cross-thread wake-ups), more
// uses the multi-thread runtime with that many workers.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(_) => return,
        };
        if sock.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn serve(port: u16) -> io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await?;
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                tokio::spawn(echo(sock));
            }
            // Out of descriptors or the like: keep serving the others,
            // and do not spin while it lasts.
            Err(e) => {
                eprintln!("tokio-echo: accept: {}", e);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: tokio-echo PORT [THREADS]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        usage();
    }
    let port: u16 = args[1].parse().unwrap_or_else(|_| usage());
    let threads: usize = match args.get(2) {
        Some(t) => t.parse().ok().filter(|&t| t > 0).unwrap_or_else(|| usage()),
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let rt = rt.unwrap_or_else(|e| {
        eprintln!("tokio-echo: runtime: {}", e);
        std::process::exit(1);
    });
    if let Err(e) = rt.block_on(serve(port)) {
        eprintln!("tokio-echo: 127.0.0.1:{}: {}", port, e);
        std::process::exit(1);
    }
}
