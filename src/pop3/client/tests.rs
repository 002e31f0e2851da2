//! Unit tests of the POP3 client against a scripted peer.

//! The client against scripted byte streams (tokio-test's mock): exact bytes sent,
//! replies split anywhere. The client against real servers is in tests/.

use super::*;
use tokio_test::io::Builder;

fn limits() -> Limits {
    Limits::default()
}

async fn greeted(mock: tokio_test::io::Mock) -> Pop3Client<tokio_test::io::Mock> {
    Pop3Client::greet(mock, Timeouts::default(), limits())
        .await
        .unwrap()
}

#[tokio::test]
async fn login_capa_uidl_list() {
    let mock = Builder::new()
        .read(b"+OK Hello <1.2@host>\r\n")
        .write(b"USER alice\r\n")
        .read(b"+OK\r\n")
        .write(b"PASS s3cret\r\n")
        .read(b"+OK Logged in.\r\n")
        .write(b"CAPA\r\n")
        .read(b"+OK\r\nCAPA\r\nTOP\r\nUI")
        .read(b"DL\r\nPIPELINING\r\n.\r\n")
        .write(b"UIDL\r\n")
        .read(b"+OK\r\n1 a\r\n2  b c\r\n.\r\n")
        .write(b"LIST\r\n")
        .read(b"+OK 2 messages\n1 10\n2 20\n.\n")
        .write(b"STAT\r\n")
        .read(b"+OK 2 30\r\n")
        .write(b"QUIT\r\n")
        .read(b"+OK bye\r\n")
        .build();
    let mut c = greeted(mock).await;
    assert_eq!(c.apop_timestamp(), Some("<1.2@host>"));
    c.login("alice", &Secret::new("s3cret")).await.unwrap();
    let caps = c.capa().await.unwrap();
    assert!(caps.top && caps.uidl && caps.pipelining);
    assert_eq!(
        c.uidl_all().await.unwrap(),
        [b"a".to_vec(), b" b c".to_vec()]
    );
    assert_eq!(c.list_all(Some(2)).await.unwrap(), [10, 20]);
    assert_eq!(c.stat().await.unwrap(), (2, 30));
    let stats = c.stats();
    assert_eq!((stats.commands, stats.round_trips), (6, 6));
    c.quit().await.unwrap();
}

#[tokio::test]
async fn capa_err_falls_back_to_retr_one_at_a_time() {
    let mock = Builder::new()
        .read(b"+OK\r\n")
        .write(b"CAPA\r\n")
        .read(b"-ERR unknown command\r\n")
        .write(b"RETR 1\r\n")
        .read(b"+OK 9 octets\r\na: b\r\n\r\n.\r\n")
        .write(b"RETR 2\r\n")
        .read(b"-ERR no such message\r\n")
        .build();
    let mut c = greeted(mock).await;
    assert_eq!(c.capa().await.unwrap(), &Capabilities::fallback());
    let got = c.fetch_headers(&[1, 2]).await.unwrap();
    assert_eq!(got[0], (1, Fetched::Retr(b"a: b\r\n\r\n".to_vec())));
    assert!(got[1].1.is_expunged());
    assert_eq!(c.stats().round_trips, 3);
}

#[tokio::test]
async fn pipelined_window_tops_up_at_half() {
    // Window 4: four sent, then after two answers two more, and so on.
    let mut b = Builder::new();
    b.read(b"+OK\r\n")
        .write(b"CAPA\r\n")
        .read(b"+OK\r\nTOP\r\nPIPELINING\r\n.\r\n");
    b.write(b"TOP 1 0\r\nTOP 2 0\r\nTOP 3 0\r\nTOP 4 0\r\n");
    b.read(b"+OK\r\nh: 1\r\n\r\n.\r\n+OK\r\nh: 2\r\n\r\n.\r\n");
    b.write(b"TOP 5 0\r\nTOP 6 0\r\n");
    b.read(b"-ERR gone\r\n+OK\r\nh: 4\n\n.\n");
    b.write(b"TOP 7 0\r\n");
    b.read(b"+OK\r\n..dot\r\n\r\n.\r\n+OK\r\nh: 6\r\n\r\n.\r\n+OK\r\nh: 7\r\n\r\n.\r\n");
    let mut c = greeted(b.build()).await;
    c.set_window(4);
    c.capa().await.unwrap();
    let got = c.fetch_headers(&[1, 2, 3, 4, 5, 6, 7]).await.unwrap();
    assert_eq!(got.len(), 7);
    assert!(got[2].1.is_expunged());
    assert_eq!(got[3].1.bytes(), Some(&b"h: 4\n\n"[..]));
    assert_eq!(got[4].1.bytes(), Some(&b".dot\r\n\r\n"[..]));
    // CAPA + three flushes.
    assert_eq!(c.stats().round_trips, 4);
    assert_eq!(c.stats().commands, 8);
}

#[tokio::test]
async fn errors_name_the_command_and_hide_passwords() {
    let mock = Builder::new()
        .read(b"+OK\r\n")
        .write(b"USER bob\r\n")
        .read(b"+OK\r\n")
        .write(b"PASS hunter2\r\n")
        .read(b"-ERR [AUTH] Authentication failed.\r\n")
        .build();
    let mut c = greeted(mock).await;
    let err = c.login("bob", &Secret::new("hunter2")).await.unwrap_err();
    assert_eq!(err.resp_code(), Some(&RespCode::Auth));
    assert!(!err.is_temporary());
    let text = format!("{err} {err:?}");
    assert!(text.contains("PASS ***"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(
        err.to_string(),
        "PASS ***: the server replied \"-ERR [AUTH] Authentication failed.\""
    );
}

#[tokio::test]
async fn auth_plain_and_apop_wire_format() {
    let mock = Builder::new()
        .read(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n")
        // RFC 1939's own example: password tanstaaf.
        .write(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n")
        .read(b"+OK maildrop has 1 message\r\n")
        .write(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
        .read(b"+OK Logged in.\r\n")
        .write(b"AUTH PLAIN dXNlcgBtYXN0ZXIAcHc=\r\n")
        .read(b"+ \r\n")
        .write(b"*\r\n")
        .read(b"-ERR cancelled\r\n")
        .build();
    let mut c = greeted(mock).await;
    c.apop("mrose", &Secret::new("tanstaaf")).await.unwrap();
    c.auth_plain("alice", &Secret::new("secret")).await.unwrap();
    let err = c
        .auth_plain_as("user", "master", &Secret::new("pw"))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("AUTH PLAIN ***: "), "{err}");
    assert!(!format!("{err:?}").contains("cHc="));
}

#[tokio::test]
async fn apop_without_timestamp_and_bad_arguments() {
    let mock = Builder::new().read(b"+OK ready\r\n").build();
    let mut c = greeted(mock).await;
    assert!(matches!(
        c.apop("u", &Secret::new("p")).await,
        Err(Pop3Error::NotSupported { .. })
    ));
    assert!(matches!(
        c.login("u\r\nDELE 1", &Secret::new("p")).await,
        Err(Pop3Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        c.login("u", &Secret::new("p\r\nDELE 1")).await,
        Err(Pop3Error::InvalidArgument { command, .. }) if command == "PASS ***"
    ));
}

#[tokio::test]
async fn greeting_err_disconnect_and_garbage() {
    let err = Pop3Client::greet(
        Builder::new().read(b"-ERR [SYS/TEMP] busy\r\n").build(),
        Timeouts::default(),
        limits(),
    )
    .await
    .unwrap_err();
    assert!(err.is_temporary(), "{err}");
    let err = Pop3Client::greet(
        Builder::new().read(b"+OK par").build(),
        Timeouts::default(),
        limits(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Pop3Error::Disconnected { ref command } if command == "greeting"));
    let err = Pop3Client::greet(
        Builder::new().read(b"* OK imap\r\n").build(),
        Timeouts::default(),
        limits(),
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        Pop3Error::Protocol {
            source: CodecError::BadStatus { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn protocol_error_poisons_the_session() {
    let mock = Builder::new()
        .read(b"+OK\r\n")
        .write(b"UIDL\r\n")
        .read(b"+OK\r\n1 a\r\n3 c\r\n.\r\n")
        .build();
    let mut c = greeted(mock).await;
    let err = c.uidl_all().await.unwrap_err();
    assert_eq!(err.to_string(), "UIDL: Unexpected UIDL seq: 3 != 2");
    assert!(matches!(c.stat().await, Err(Pop3Error::Unusable { .. })));
}

#[tokio::test]
async fn line_and_block_limits() {
    let small = Limits {
        max_line: 16,
        max_block: 32,
        max_messages: 2,
        max_message_line: 16,
    };
    let mock = Builder::new()
        .read(b"+OK\r\n")
        .write(b"RETR 1\r\n")
        .read(b"+OK\r\n")
        .read(&b"0123456789\r\n".repeat(4))
        .build();
    let mut c = Pop3Client::greet(mock, Timeouts::default(), small)
        .await
        .unwrap();
    let err = c.retr(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Pop3Error::Protocol {
                source: CodecError::BlockTooLarge { limit: 32 },
                ..
            }
        ),
        "{err}"
    );

    let mock = Builder::new()
        .read(b"+OK\r\n")
        .write(b"UIDL\r\n")
        .read(b"+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n")
        .build();
    let mut c = Pop3Client::greet(mock, Timeouts::default(), small)
        .await
        .unwrap();
    let err = c.uidl_all().await.unwrap_err();
    assert!(
        matches!(
            err,
            Pop3Error::Protocol {
                source: CodecError::TooManyMessages { limit: 2 },
                ..
            }
        ),
        "{err}"
    );

    let mock = Builder::new()
        .read(&[b"+OK ".repeat(10), b"\r\n".to_vec()].concat())
        .build();
    let err = Pop3Client::greet(mock, Timeouts::default(), small)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Pop3Error::Protocol {
                source: CodecError::LineTooLong { limit: 16 },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn stls_refuses_early_data() {
    let mock = Builder::new()
        .read(b"+OK\r\n")
        .write(b"STLS\r\n")
        .read(b"+OK Begin TLS\r\n+OK injected\r\n")
        .build();
    let c = greeted(mock).await;
    assert!(matches!(
        c.stls().await,
        Err(Pop3Error::DataBeforeTls { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn stalled_server_times_out() {
    let mock = Builder::new()
        .read(b"+OK\r\n")
        .write(b"STAT\r\n")
        .wait(Duration::from_secs(3600))
        .build();
    let mut c = Pop3Client::greet(
        mock,
        Timeouts {
            connect: Duration::from_secs(1),
            command: Duration::from_secs(5),
        },
        limits(),
    )
    .await
    .unwrap();
    let err = c.stat().await.unwrap_err();
    assert!(
        matches!(err, Pop3Error::Timeout { ref command, .. } if command == "STAT"),
        "{err}"
    );
    assert!(err.is_temporary());
}
