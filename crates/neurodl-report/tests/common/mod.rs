//! Helpers shared by the integration tests.

#![allow(dead_code)]

/// PNG bytes back to (width, height, RGB pixels).
pub fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("fits in memory")];
    let info = reader.next_frame(&mut buf).expect("one frame");
    assert_eq!(info.color_type, png::ColorType::Rgb, "RGB output");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Pixels within `tol` (per channel) of `rgb`.
pub fn count_near(pixels: &[u8], rgb: (u8, u8, u8), tol: u8) -> usize {
    pixels
        .chunks(3)
        .filter(|p| p[0].abs_diff(rgb.0) <= tol && p[1].abs_diff(rgb.1) <= tol && p[2].abs_diff(rgb.2) <= tol)
        .count()
}

/// Pixels that are not (near) white.
pub fn count_ink(pixels: &[u8]) -> usize {
    pixels.chunks(3).filter(|p| p.iter().any(|&v| v < 235)).count()
}

/// The Okabe–Ito colours the plots use for the first curves, the bars and the reference line.
pub const BLUE: (u8, u8, u8) = (0x00, 0x72, 0xB2);
pub const VERMILLION: (u8, u8, u8) = (0xD5, 0x5E, 0x00);
pub const GREEN: (u8, u8, u8) = (0x00, 0x9E, 0x73);
