use super::store::{self, Store};
use super::*;
use crate::codec::UserError;
use crate::frame::{self, Frame};

use bytes::buf::Take;
use std::cmp;

#[derive(Debug)]
pub(super) struct Prioritize {
    pending_send: store::Queue<stream::NextSend>,
    flow: FlowControl,
    max_buffer_size: usize,
}

impl Prioritize {
    fn pop_frame<B>(
        &mut self,
        buffer: &mut Buffer<Frame<B>>,
        store: &mut Store,
        max_len: usize,
        counts: &mut Counts,
    ) -> Option<Frame<Prioritized<B>>>
    where
        B: Buf,
    {
        loop {
            let mut stream = self.pending_send.pop(store)?;
            let frame = match stream.pending_send.pop_front(buffer) {
                Some(Frame::Data(mut frame)) => {
                    let stream_capacity = stream.send_flow.available();
                    let sz = frame.payload().remaining();

                    let len = cmp::min(sz, max_len);
                    let len = cmp::min(len, stream_capacity.as_size() as usize) as WindowSize;

                    tracing::trace!(len, sz, "pop_frame: data");

                    // Update the flow control
                    stream.send_flow.send_data(len);
                    self.flow.send_data(len);

                    let eos = frame.is_end_stream();
                    let len = len as usize;
                    if frame.payload().remaining() > len {
                        frame.set_end_stream(false);
                    }
                    Frame::Data(frame.map(|buf| Prioritized { inner: buf.take(len), end_of_stream: eos, stream: stream.key() }))
                }
                Some(frame) => frame.map(|_| unreachable!("Frame::map closure will only be called on DATA frames.")),
                None => {
                    if let Some(reason) = stream.state.get_scheduled_reset() {
                        stream.state.set_reset(stream.id, reason, Initiator::Library);
                        let frame = frame::Reset::new(stream.id, reason);
                        Frame::Reset(frame)
                    } else {
                        continue;
                    }
                }
            };
            counts.transition_after(stream, false);
            return Some(frame);
        }
    }

    pub fn poll_complete<T, B>(
        &mut self,
        cx: &mut Context,
        buffer: &mut Buffer<Frame<B>>,
        store: &mut Store,
        counts: &mut Counts,
        dst: &mut Codec<T, Prioritized<B>>,
    ) -> Poll<io::Result<()>>
    where
        T: AsyncWrite + Unpin,
        B: Buf,
    {
        loop {
            let max_frame_len = dst.max_send_frame_size();
            match self.pop_frame(buffer, store, max_frame_len, counts) {
                Some(frame) => {
                    dst.buffer(frame).expect("invalid frame");
                }
                None => {
                    ready!(dst.flush(cx))?;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}
