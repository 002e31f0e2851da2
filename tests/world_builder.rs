//! The fake servers' world builder renders the same world as the scenario loader: the
//! same messages byte for byte, UIDs, UIDLs, sizes, flags and profile quirks, for
//! scenario files and their equivalents written in code.

use std::path::Path;

use fake_servers::builder::{Mailbox, Message, WorldBuilder};
use fake_servers::world::World;

fn loaded(name: &str) -> World {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.yaml"));
    uidlmap::scenario::load_file(&path)
        .expect("scenario loads")
        .world
}

/// Worlds hold no PartialEq; their Debug rendering is complete and deterministic.
fn same(name: &str, built: World) {
    assert_eq!(
        format!("{built:#?}"),
        format!("{:#?}", loaded(name)),
        "{name}"
    );
}

#[test]
fn identical() {
    let w = WorldBuilder::new()
        .message("m1", Message::generated().subject("Hello").size(1200))
        .message(
            "m2",
            Message::generated().subject("Invoice 2024-03").size(2400),
        )
        .message("m3", Message::generated().subject("Lunch?").size(900))
        .mailbox("INBOX", ["m1", "m2", "m3"])
        .pop3(["m1", "m2", "m3"])
        .uidl_template("UID{uid}-{uidvalidity}")
        .build()
        .unwrap();
    same("basic/identical", w);
}

#[test]
fn dovecot_profile_uidvalidity_and_default_listing() {
    let w = WorldBuilder::new()
        .profile("dovecot")
        .message("m1", Message::generated().subject("Hello").size(1300))
        .message(
            "m2",
            Message::generated().subject("Quote request").size(2600),
        )
        .message(
            "m3",
            Message::generated().subject("Signed contract").size(48000),
        )
        .uidvalidity(1_709_280_000)
        .mailbox("INBOX", ["m1", "m2", "m3"])
        .build()
        .unwrap();
    same("providers/dovecot", w);
}

#[test]
fn exchange_profile_and_flags() {
    let w = WorldBuilder::new()
        .profile("exchange")
        .message("e1", Message::generated().subject("Budget").size(6200))
        .message(
            "e2",
            Message::generated()
                .subject("Follow up on this")
                .size(3100)
                .flag("\\Flagged")
                .flag("\\Seen"),
        )
        .message("e3", Message::generated().subject("Lunch").size(1400))
        .mailbox("INBOX", ["e1", "e2", "e3"])
        .build()
        .unwrap();
    same("providers/exchange", w);
}

#[test]
fn gmail_profile_and_folders() {
    let w = WorldBuilder::new()
        .profile("gmail")
        .message(
            "m1",
            Message::generated().subject("Flight booking").size(5100),
        )
        .message(
            "a2",
            Message::generated().subject("Archived receipt").size(2300),
        )
        .message(
            "s3",
            Message::generated()
                .from("Bob Receiver <bob@example.net>")
                .to("Carol <carol@example.com>")
                .subject("Sent from the web UI")
                .size(1200),
        )
        .message(
            "m4",
            Message::generated().subject("Boarding pass").size(7300),
        )
        .message(
            "sp5",
            Message::generated().subject("You have won").size(900),
        )
        .mailbox("INBOX", ["m1", "m4"])
        .mailbox("[Gmail]/All Mail", ["m1", "a2", "s3", "m4"])
        .mailbox("[Gmail]/Sent Mail", ["s3"])
        .mailbox_with(Mailbox::new("[Gmail]/Spam", ["sp5"]))
        .build()
        .unwrap();
    same("providers/gmail", w);
}
