//! Embedding the fake servers: build a world in code, start POP3 and IMAP (with TLS) in
//! one call, talk POP3 to it, and let the servers stop when the handle is dropped.
//!
//! `cargo run -p uidlmap-fake-servers --example embed`

use fake_servers::builder::{Message, WorldBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two generated messages of exact sizes and one raw one; IMAP lists them in UID order,
    // POP3 newest first, with Courier-style UIDLs.
    let world = WorldBuilder::new()
        .account("alice", "secret")
        .message("m1", Message::generated().subject("Hello").size(2048))
        .message("m2", Message::sized(4096))
        .message(
            "m3",
            Message::raw("From: a@example.org\r\nSubject: raw\r\n\r\nhi\r\n"),
        )
        .mailbox("INBOX", ["m1", "m2", "m3"])
        .pop3(["m3", "m2", "m1"])
        .uidl_template("UID{uid}-{uidvalidity}")
        .build()?;

    let servers = fake_servers::Servers::new(world).tls(true).start()?;
    println!("POP3  {} (STLS offered)", servers.pop3());
    println!("IMAP  {} (STARTTLS offered)", servers.imap());
    println!("POP3S {:?}  IMAPS {:?}", servers.pop3s(), servers.imaps());
    println!("login {} / {}", servers.user(), servers.password());

    // What a POP3 client sees.
    let tcp = TcpStream::connect(servers.pop3()).await?;
    let (read, mut write) = tcp.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    read.read_line(&mut line).await?;
    write
        .write_all(
            format!(
                "USER {}\r\nPASS {}\r\nUIDL\r\n",
                servers.user(),
                servers.password()
            )
            .as_bytes(),
        )
        .await?;
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 || line == ".\r\n" {
            break;
        }
        print!("S: {line}");
    }
    write.write_all(b"QUIT\r\n").await?;

    // A client that reads a CA file gets one like this.
    let ca = std::env::temp_dir().join("fake-servers-example-ca.pem");
    servers.write_ca(&ca)?;
    println!("CA written to {}", ca.display());
    std::fs::remove_file(&ca)?;
    servers.stop().await;
    Ok(())
}
