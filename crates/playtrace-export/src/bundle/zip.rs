//! A small zip writer (PKWARE APPNOTE 6.3: local headers, deflated data, central directory,
//! end record; UTF-8 names; no zip64): enough for a QA bundle that any unzip, Finder or
//! Explorer opens, without a dependency for it.

use super::BundleFile;
use std::io::Write;

/// The archive is over what a zip without zip64 can say.
#[derive(Debug)]
pub(super) struct TooLarge;

/// MS-DOS time and date of `secs` since the epoch (UTC), as zip headers store them.
fn dos_time(secs: u64) -> (u16, u16) {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = year.clamp(1980, 2107);
    let time = ((rest / 3600) << 11) | (((rest % 3600) / 60) << 5) | ((rest % 60) / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The zip archive of `files`, every entry deflated and dated `created_secs`.
pub(super) fn archive(files: &[BundleFile<'_>], created_secs: u64) -> Result<Vec<u8>, TooLarge> {
    let (time, date) = dos_time(created_secs);
    let small = |n: usize| u32::try_from(n).map_err(|_| TooLarge);
    let count = u16::try_from(files.len()).map_err(|_| TooLarge)?;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for f in files {
        let mut crc = flate2::Crc::new();
        crc.update(f.bytes);
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(f.bytes).map_err(|_| TooLarge)?;
        let data = deflate.finish().map_err(|_| TooLarge)?;
        let offset = small(out.len())?;
        let name = f.name.as_bytes();
        let name_len = u16::try_from(name.len()).map_err(|_| TooLarge)?;
        let (packed, size) = (small(data.len())?, small(f.bytes.len())?);
        // Local file header: version 2.0, UTF-8 names (bit 11), deflate (8).
        u32le(&mut out, 0x0403_4b50);
        for v in [20, 0x0800, 8, time, date] {
            u16le(&mut out, v);
        }
        for v in [crc.sum(), packed, size] {
            u32le(&mut out, v);
        }
        u16le(&mut out, name_len);
        u16le(&mut out, 0);
        out.extend_from_slice(name);
        out.extend_from_slice(&data);
        // Its central directory entry: made by Unix (3) 2.0, regular file rw-r--r--.
        u32le(&mut central, 0x0201_4b50);
        for v in [(3 << 8) | 20, 20, 0x0800, 8, time, date] {
            u16le(&mut central, v);
        }
        for v in [crc.sum(), packed, size] {
            u32le(&mut central, v);
        }
        for v in [name_len, 0, 0, 0, 0] {
            u16le(&mut central, v);
        }
        u32le(&mut central, 0o100_644 << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(name);
    }
    let central_offset = small(out.len())?;
    let central_size = small(central.len())?;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    for v in [0, 0, count, count] {
        u16le(&mut out, v);
    }
    u32le(&mut out, central_size);
    u32le(&mut out, central_offset);
    u16le(&mut out, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times_are_the_calendar_date() {
        // 2025-10-30T17:00:00Z
        let (time, date) = dos_time(1_761_843_600);
        assert_eq!(time, (17 << 11) as u16);
        assert_eq!(date, (((2025 - 1980) << 9) | (10 << 5) | 30) as u16);
    }

    #[test]
    fn the_archive_ends_with_a_directory_of_every_entry() {
        let files = [
            BundleFile {
                name: "a.txt",
                bytes: b"hello",
            },
            BundleFile {
                name: "b/ü.md",
                bytes: b"",
            },
        ];
        let zip = archive(&files, 1_761_843_600).unwrap();
        assert_eq!(&zip[..4], b"PK\x03\x04");
        let end = &zip[zip.len() - 22..];
        assert_eq!(&end[..4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 2);
    }
}
