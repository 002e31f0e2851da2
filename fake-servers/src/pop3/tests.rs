//! Tests of the fake POP3 server: dot-stuffing, redaction, bare LF, and over TCP its
//! commands, authentication, script faults and line limits.

use super::*;

#[test]
fn stuffing() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"", b".\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b"a", b"a\r\n.\r\n"),
        (b".a\r\n..b\r\nc.\r\n.", b"..a\r\n...b\r\nc.\r\n..\r\n.\r\n"),
        (b"x\n.\n", b"x\n..\n.\r\n"),
    ];
    for (body, wire) in cases {
        assert_eq!(stuffed(body), *wire, "{body:?}");
    }
}

#[test]
fn redaction() {
    let cases = [
        ("PASS secret word", "PASS ***"),
        ("pass x", "pass ***"),
        ("PASS", "PASS ***"),
        ("APOP bob 0123abcd", "APOP bob ***"),
        ("AUTH PLAIN AGJvYgBwdw==", "AUTH PLAIN ***"),
        ("AUTH PLAIN", "AUTH PLAIN"),
        ("USER bob", "USER bob"),
        ("TOP 1 0", "TOP 1 0"),
    ];
    for (line, shown) in cases {
        assert_eq!(redact(line), shown);
    }
}

#[test]
fn bare_lf() {
    assert_eq!(to_bare_lf(b"+OK\r\na\rb\r\n\r\r\n"), b"+OK\na\rb\n\r\n");
}

mod wire {
    //! The server on a real socket, spoken to byte by byte (not through uidlmap's
    //! client, so a bug cannot hide on both sides).

    use super::super::*;
    use crate::script::{CommandMatch, FaultAction, Rule};
    use crate::world::{Pop3Message, World};
    use tokio::io::{AsyncBufReadExt, BufReader};

    struct Raw(BufReader<TcpStream>);

    impl Raw {
        async fn open(server: &Running) -> Raw {
            let s = TcpStream::connect(server.addr).await.unwrap();
            let mut raw = Raw(BufReader::new(s));
            assert!(raw.line().await.starts_with("+OK "));
            raw
        }

        async fn line(&mut self) -> String {
            let mut buf = Vec::new();
            self.0.read_until(b'\n', &mut buf).await.unwrap();
            String::from_utf8(buf).unwrap()
        }

        async fn send(&mut self, command: &str) {
            let s = self.0.get_mut();
            s.write_all(command.as_bytes()).await.unwrap();
            s.write_all(b"\r\n").await.unwrap();
        }

        async fn cmd(&mut self, command: &str) -> String {
            self.send(command).await;
            self.line().await
        }

        /// The rest of a multi-line reply, terminator included, as raw text.
        async fn block(&mut self) -> String {
            let mut out = String::new();
            loop {
                let l = self.line().await;
                out.push_str(&l);
                if l == ".\r\n" || l.is_empty() {
                    return out;
                }
            }
        }

        async fn login(&mut self) {
            assert_eq!(self.cmd("USER u").await, "+OK\r\n");
            assert_eq!(self.cmd("PASS p w").await, "+OK Logged in.\r\n");
        }
    }

    fn world() -> SharedWorld {
        let mut w = World {
            user: "u".into(),
            password: "p w".into(),
            ..Default::default()
        };
        w.pop3.messages = vec![
            Pop3Message::honest("a", "", b"S: 1\r\n\r\n.x\r\nl2\r\n".to_vec()),
            Pop3Message::honest("b", "  two words", b"S: 2\n\nlf".to_vec()),
            Pop3Message {
                list_size: Some(7),
                ..Pop3Message::honest("c", "c", b"S: 3\r\n\r\n".to_vec())
            },
        ];
        SharedWorld::new(w)
    }

    async fn within<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), f)
            .await
            .expect("test timed out")
    }

    #[tokio::test]
    async fn listings_messages_and_errors() {
        within(async {
            let (w, script) = (world(), Script::default());
            let server = spawn_local(w, script.clone(), Pop3Options::default())
                .await
                .unwrap();
            let mut c = Raw::open(&server).await;
            assert_eq!(c.cmd("STAT").await, "-ERR Not logged in.\r\n");
            assert_eq!(c.cmd("PASS p w").await, "-ERR No username given.\r\n");
            c.login().await;
            assert_eq!(c.cmd("STAT").await, "+OK 3 31\r\n");
            assert_eq!(c.cmd("UIDL").await, "+OK\r\n");
            assert_eq!(c.block().await, "1 \r\n2   two words\r\n3 c\r\n.\r\n");
            assert_eq!(c.cmd("LIST").await, "+OK\r\n");
            assert_eq!(c.block().await, "1 16\r\n2 8\r\n3 7\r\n.\r\n");
            assert_eq!(c.cmd("LIST 3").await, "+OK 3 7\r\n");
            assert_eq!(c.cmd("UIDL 2").await, "+OK 2   two words\r\n");
            assert_eq!(c.cmd("LIST 4").await, "-ERR There's no message 4.\r\n");
            assert_eq!(c.cmd("RETR 0").await, "-ERR There's no message 0.\r\n");
            assert_eq!(c.cmd("TOP 1 0").await, "+OK\r\n");
            assert_eq!(c.block().await, "S: 1\r\n\r\n.\r\n");
            assert_eq!(c.cmd("TOP 1 1").await, "+OK\r\n");
            assert_eq!(c.block().await, "S: 1\r\n\r\n..x\r\n.\r\n");
            assert_eq!(c.cmd("RETR 2").await, "+OK 8 octets\r\n");
            assert_eq!(c.block().await, "S: 2\n\nlf\r\n.\r\n");
            assert_eq!(c.cmd("TOP 1 x").await, "-ERR Invalid number of lines.\r\n");
            assert_eq!(c.cmd("XYZZY").await, "-ERR Unknown command.\r\n");
            assert_eq!(c.cmd("USER u").await, "-ERR Already logged in.\r\n");
            assert_eq!(c.cmd("STLS").await, "-ERR TLS is not available.\r\n");
            assert_eq!(c.cmd("NOOP").await, "+OK\r\n");
            let log: Vec<String> = script.log().into_iter().map(|e| e.command).collect();
            assert_eq!(log[..4], ["STAT", "PASS ***", "USER u", "PASS ***"]);
            server.stop().await;
        })
        .await;
    }

    #[tokio::test]
    async fn dele_rset_quit_and_abrupt_close() {
        within(async {
            let (w, script) = (world(), Script::default());
            let server = spawn_local(w.clone(), script, Pop3Options::default())
                .await
                .unwrap();
            // Marked, then the connection just closes: nothing changes.
            let mut c = Raw::open(&server).await;
            c.login().await;
            assert_eq!(c.cmd("DELE 1").await, "+OK Marked to be deleted.\r\n");
            drop(c);
            // Marked, reset, marked again, QUIT: committed.
            let mut c = Raw::open(&server).await;
            c.login().await;
            assert_eq!(c.cmd("DELE 2").await, "+OK Marked to be deleted.\r\n");
            assert_eq!(c.cmd("RETR 2").await, "-ERR Message 2 is deleted.\r\n");
            assert_eq!(c.cmd("STAT").await, "+OK 2 23\r\n");
            assert_eq!(c.cmd("RSET").await, "+OK\r\n");
            assert_eq!(c.cmd("STAT").await, "+OK 3 31\r\n");
            assert_eq!(c.cmd("DELE 1").await, "+OK Marked to be deleted.\r\n");
            assert_eq!(c.cmd("UIDL").await, "+OK\r\n");
            assert_eq!(c.block().await, "2   two words\r\n3 c\r\n.\r\n");
            assert_eq!(
                c.cmd("QUIT").await,
                "+OK Logging out, 1 messages deleted.\r\n"
            );
            assert_eq!(c.line().await, "", "closed after QUIT");
            let ids: Vec<String> = w
                .lock()
                .pop3
                .messages
                .iter()
                .map(|m| m.id.clone())
                .collect();
            assert_eq!(ids, ["b", "c"]);
            server.stop().await;
        })
        .await;
    }

    #[tokio::test]
    async fn auth_plain_apop_and_switched_off_commands() {
        within(async {
            let options = Pop3Options {
                apop: true,
                caps: Pop3Caps {
                    top: false,
                    uidl: false,
                    resp_codes: false,
                    ..Default::default()
                },
                ..Default::default()
            };
            let (w, script) = (world(), Script::default());
            let server = spawn_local(w, script.clone(), options).await.unwrap();
            let mut c = Raw::open(&server).await;
            assert_eq!(c.cmd("CAPA").await, "+OK Capability list follows\r\n");
            assert_eq!(
                c.block().await,
                "CAPA\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\nIMPLEMENTATION uidlmap-fake-servers\r\n.\r\n"
            );
            // Without RESP-CODES, no [AUTH].
            assert_eq!(c.cmd("AUTH PLAIN AHUAeA==").await, "-ERR Authentication failed.\r\n");
            assert_eq!(c.cmd("AUTH PLAIN").await, "+ \r\n");
            assert_eq!(c.cmd("*").await, "-ERR Authentication aborted.\r\n");
            assert_eq!(c.cmd("AUTH PLAIN").await, "+ \r\n");
            // "\0u\0p w"
            assert_eq!(c.cmd("AHUAcCB3").await, "+OK Logged in.\r\n");
            assert_eq!(c.cmd("TOP 1 0").await, "-ERR Unknown command.\r\n");
            assert_eq!(c.cmd("UIDL").await, "-ERR Unknown command.\r\n");
            let log: Vec<String> = script.log().into_iter().map(|e| e.command).collect();
            assert_eq!(log[1..4], ["AUTH PLAIN ***", "AUTH PLAIN", "AUTH PLAIN"]);
            assert!(!log.iter().any(|l| l.contains("AHUAcCB3")), "{log:?}");

            // APOP with the timestamp of this very session.
            let s = TcpStream::connect(server.addr).await.unwrap();
            let mut c = Raw(BufReader::new(s));
            let greeting = c.line().await;
            let ts = &greeting[greeting.find('<').unwrap()..=greeting.find('>').unwrap()];
            let digest = hex_md5(&[ts.as_bytes(), b"p w"]);
            assert_eq!(c.cmd("APOP u 00").await, "-ERR Authentication failed.\r\n");
            assert_eq!(c.cmd(&format!("APOP u {digest}")).await, "+OK Logged in.\r\n");
            server.stop().await;
        })
        .await;
    }

    #[tokio::test]
    async fn script_replies_truncates_and_pipelined_input() {
        within(async {
            let script = Script::new(
                vec![
                    Rule {
                        on: CommandMatch::prefix(Protocol::Pop3, "PASS"),
                        action: FaultAction::Reply(b"-ERR [IN-USE] locked\r\n".to_vec()),
                        skip: 0,
                        times: Some(1),
                    },
                    Rule {
                        on: CommandMatch::prefix(Protocol::Pop3, "RETR 1"),
                        action: FaultAction::Truncate(9),
                        skip: 0,
                        times: None,
                    },
                ],
                vec![],
            );
            let server = spawn_local(world(), script, Pop3Options::default())
                .await
                .unwrap();
            let mut c = Raw::open(&server).await;
            assert_eq!(c.cmd("USER u").await, "+OK\r\n");
            assert_eq!(c.cmd("PASS p w").await, "-ERR [IN-USE] locked\r\n");
            assert_eq!(c.cmd("STAT").await, "-ERR Not logged in.\r\n");
            c.login().await;
            // Three commands in one write: answered in order.
            c.send("NOOP\r\nLIST 1\r\nRETR 1").await;
            assert_eq!(c.line().await, "+OK\r\n");
            assert_eq!(c.line().await, "+OK 1 16\r\n");
            assert_eq!(c.line().await, "+OK 16 oc");
            server.stop().await;
        })
        .await;
    }

    #[tokio::test]
    async fn over_long_command_line_closes() {
        within(async {
            let server = spawn_local(world(), Script::default(), Pop3Options::default())
                .await
                .unwrap();
            let mut c = Raw::open(&server).await;
            c.send(&"X".repeat(10_000)).await;
            assert_eq!(c.line().await, "-ERR Line too long.\r\n");
            assert_eq!(c.line().await, "");
            server.stop().await;
        })
        .await;
    }
}

#[test]
fn apop_digest_rfc1939_example() {
    assert_eq!(
        hex_md5(&[b"<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"]),
        "c4c9334bac560ecc979e58001b3e22fb"
    );
}
