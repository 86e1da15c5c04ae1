//! A two-thread pipeline over a byte range: a producer fills aligned buffers one chunk ahead
//! on a second thread while the calling thread consumes the previous chunk, in stream order.
//! Flash (write and read-back passes) and the durable copy of `image customize -o` use it, so
//! a slow source and a slow target overlap instead of adding up.

use std::sync::mpsc;

use super::direct::AlignedBuf;

/// Buffers in flight: one being filled, one being consumed, one ready.
const BUFFERS: usize = 3;

/// Runs `produce` (fill a buffer with the bytes at `off`) on a second thread and `consume` on
/// this one, over `len` bytes in chunks of `chunk`. The first error from either side ends both
/// (the producer stops when the consumer hangs up); `stopped` makes the error for a producer
/// that ended early without one.
pub fn run<E, P, C>(
    len: u64,
    chunk: usize,
    mut produce: P,
    mut consume: C,
    stopped: impl Fn(u64) -> E,
) -> Result<(), E>
where
    E: Send,
    P: FnMut(&mut [u8], u64) -> Result<(), E> + Send,
    C: FnMut(&[u8], u64) -> Result<(), E>,
{
    let (free_tx, free_rx) = mpsc::channel::<AlignedBuf>();
    let (full_tx, full_rx) = mpsc::sync_channel::<Result<(AlignedBuf, u64, usize), E>>(BUFFERS);
    for _ in 0..BUFFERS.min(len.div_ceil(chunk as u64).max(1) as usize) {
        free_tx
            .send(AlignedBuf::new(chunk))
            .expect("receiver alive");
    }
    // `move`: this side's channel ends drop when the closure returns, so a consumer error
    // unblocks the producer before the scope joins it.
    std::thread::scope(move |s| {
        s.spawn(move || {
            let mut off = 0u64;
            while off < len {
                // The consumer hung up (it failed): stop producing.
                let Ok(mut buf) = free_rx.recv() else { return };
                let n = (len - off).min(chunk as u64) as usize;
                let item = produce(&mut buf[..n], off).map(|()| (buf, off, n));
                let failed = item.is_err();
                if full_tx.send(item).is_err() || failed {
                    return;
                }
                off += n as u64;
            }
        });
        let mut done = 0u64;
        while done < len {
            let (buf, off, n) = full_rx.recv().map_err(|_| stopped(done))??;
            consume(&buf[..n], off)?;
            done = off + n as u64;
            // The producer may already be done and gone; the buffer is then simply dropped.
            let _ = free_tx.send(buf);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_every_chunk_in_order_and_stops_on_the_first_error() {
        for len in [0u64, 1, 4095, 4096, 3 * 4096 + 17] {
            let mut seen = Vec::new();
            run(
                len,
                4096,
                |buf, off| {
                    buf.fill((off / 4096) as u8);
                    Ok::<(), String>(())
                },
                |c, off| {
                    assert!(c.iter().all(|b| *b == (off / 4096) as u8));
                    seen.push((off, c.len()));
                    Ok(())
                },
                |at| format!("stopped at {at}"),
            )
            .unwrap();
            let total: usize = seen.iter().map(|s| s.1).sum();
            assert_eq!(total as u64, len);
            assert!(seen.windows(2).all(|w| w[0].0 + w[0].1 as u64 == w[1].0));
        }
        let err = run(
            10 * 4096,
            4096,
            |_, _| Ok(()),
            |_, off| {
                if off == 2 * 4096 {
                    Err(format!("consumer failed at {off}"))
                } else {
                    Ok(())
                }
            },
            |at| format!("stopped at {at}"),
        )
        .unwrap_err();
        assert_eq!(err, "consumer failed at 8192");
        let err = run(
            10 * 4096,
            4096,
            |_, off| {
                if off == 4096 {
                    Err(format!("producer failed at {off}"))
                } else {
                    Ok(())
                }
            },
            |_, _| Ok(()),
            |at| format!("stopped at {at}"),
        )
        .unwrap_err();
        assert_eq!(err, "producer failed at 4096");
    }
}
