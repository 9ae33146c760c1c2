//! What `wsock connect` sends: stdin, line by line or whole, as text or binary.
//!
//! A task reads stdin into a small channel, so that the input outlives each connection
//! of `--reconnect`, and the channel's end is the end of input.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use wsock::Message;

/// Lines (or the whole input) waiting to be sent before stdin is read further.
const QUEUED: usize = 16;

/// How stdin becomes messages.
#[derive(Clone, Copy, Debug, Default)]
pub struct InputMode {
    /// Binary messages rather than text.
    pub binary: bool,
    /// All of stdin as one message, rather than one per line.
    pub whole: bool,
}

/// Starts reading `input` in a task; each item is the next message to send.
pub fn spawn<R>(input: R, mode: InputMode) -> mpsc::Receiver<io::Result<Message>>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(QUEUED);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        if mode.whole {
            let mut all = Vec::new();
            let message = match input.read_to_end(&mut all).await {
                Ok(_) => message(all, mode.binary, "the input"),
                Err(error) => Err(error),
            };
            let _ = sender.send(message).await;
            return;
        }
        for number in 1.. {
            let mut line = Vec::new();
            let message = match input.read_until(b'\n', &mut line).await {
                Ok(0) => return,
                Ok(_) => {
                    strip_line_end(&mut line);
                    message(line, mode.binary, &format!("line {number}"))
                }
                Err(error) => Err(error),
            };
            let failed = message.is_err();
            if sender.send(message).await.is_err() || failed {
                return;
            }
        }
    });
    receiver
}

fn strip_line_end(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

fn message(bytes: Vec<u8>, binary: bool, what: &str) -> io::Result<Message> {
    if binary {
        return Ok(Message::binary(bytes));
    }
    String::from_utf8(bytes).map(Message::text).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} of stdin is not UTF-8, so it cannot be a text message; use --binary"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &'static [u8], mode: InputMode) -> Vec<io::Result<Message>> {
        let mut receiver = spawn(input, mode);
        let mut messages = Vec::new();
        while let Some(message) = receiver.recv().await {
            messages.push(message);
        }
        messages
    }

    #[tokio::test]
    async fn lines_become_text_or_binary_messages_without_their_line_ends() {
        let text = all(b"one\r\ntwo\n\nlast", InputMode::default()).await;
        let text: Vec<Message> = text.into_iter().map(Result::unwrap).collect();
        let expected = ["one", "two", "", "last"].map(Message::text);
        assert_eq!(text, expected);

        let binary = InputMode {
            binary: true,
            ..InputMode::default()
        };
        let bytes = all(b"\x00\xff\n\x01", binary).await;
        let bytes: Vec<Message> = bytes.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            bytes,
            [Message::binary(vec![0, 255]), Message::binary(vec![1])]
        );
    }

    #[tokio::test]
    async fn whole_input_is_one_message() {
        let whole = InputMode {
            binary: true,
            whole: true,
        };
        let messages = all(b"a\nb\n\xff", whole).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(
            messages[0].as_ref().unwrap(),
            &Message::binary(b"a\nb\n\xff".to_vec())
        );
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_an_error_that_names_it_and_ends_input() {
        let messages = all(b"fine\n\xff\xfe\nnever", InputMode::default()).await;
        assert_eq!(messages.len(), 2);
        let error = messages[1].as_ref().unwrap_err().to_string();
        assert!(
            error.contains("line 2") && error.contains("--binary"),
            "{error}"
        );
    }
}
