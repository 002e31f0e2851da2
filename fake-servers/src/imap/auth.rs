//! LOGIN and AUTHENTICATE PLAIN, checked against the world's one account.

use super::*;

impl Session {
    pub(super) fn check_login(&self, user: &[u8], pass: &[u8]) -> bool {
        let w = self.world.lock();
        w.user.as_bytes() == user && w.password.as_bytes() == pass
    }

    pub(super) fn finish_login(&mut self, out: &mut Out, tag: &str, ok: bool) {
        if ok {
            self.state = State::Authenticated;
            let caps = self.capability_list();
            self.tagged(out, tag, &format!("OK [CAPABILITY {caps}] Logged in"));
        } else {
            self.tagged(out, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
        }
    }

    pub(super) async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        tag: &str,
        args: &[Tok],
        out: &mut Out,
    ) -> io::Result<Flow> {
        let mechanism = match args.first() {
            Some(Tok::Atom(m)) => m.to_ascii_uppercase(),
            _ => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid arguments.",
                );
                return Ok(Flow::Continue);
            }
        };
        if mechanism != "PLAIN" || !self.opts.capabilities.auth_plain {
            self.tagged(out, tag, "NO Unsupported authentication mechanism.");
            return Ok(Flow::Continue);
        }
        let response = match args.get(1) {
            Some(_) if !self.opts.capabilities.sasl_ir => {
                self.tagged(out, tag, "BAD Initial response not allowed (no SASL-IR).");
                return Ok(Flow::Continue);
            }
            Some(Tok::Atom(ir)) => ir.clone().into_bytes(),
            Some(_) => {
                self.tagged(
                    out,
                    tag,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid arguments.",
                );
                return Ok(Flow::Continue);
            }
            None => {
                let mut cont = Out::new(self.opts.bare_lf);
                cont.line("+ ");
                conn.send(&cont.buf).await?;
                match conn.line(self.opts.idle_timeout).await? {
                    Some(line) => line,
                    None => return Ok(Flow::Close),
                }
            }
        };
        if response == b"*" {
            self.tagged(out, tag, "BAD Authentication aborted by client.");
            return Ok(Flow::Continue);
        }
        let decoded = if response == b"=" {
            Some(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(&response)
                .ok()
        };
        let Some(decoded) = decoded else {
            self.tagged(out, tag, "BAD Invalid base64 data in continued response");
            return Ok(Flow::Continue);
        };
        let fields: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let ok = match fields.as_slice() {
            [authz, user, pass] => {
                (authz.is_empty() || authz == user) && self.check_login(user, pass)
            }
            _ => false,
        };
        self.finish_login(out, tag, ok);
        Ok(Flow::Continue)
    }
}
