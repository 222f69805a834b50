//! Decoding (binary PPM, raw RGB) and preprocessing (bilinear resize, normalization to
//! NCHW f32) of one image.

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

/// Largest accepted image side.
const MAX_SIDE: usize = 16384;

fn ppm_token(bytes: &[u8], pos: &mut usize) -> Result<usize, String> {
    loop {
        match bytes.get(*pos) {
            Some(b'#') => {
                while bytes.get(*pos).is_some_and(|&c| c != b'\n') {
                    *pos += 1;
                }
            }
            Some(c) if c.is_ascii_whitespace() => *pos += 1,
            Some(_) => break,
            None => return Err("the PPM header is truncated".into()),
        }
    }
    let start = *pos;
    while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
        *pos += 1;
    }
    std::str::from_utf8(&bytes[start..*pos])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad number in the PPM header at byte {start}"))
}

/// Decode a binary PPM (`P6`, maxval 255).
pub fn decode_ppm(bytes: &[u8]) -> Result<Rgb, String> {
    if !bytes.starts_with(b"P6") {
        return Err("not a binary PPM image (expected the P6 magic)".into());
    }
    let mut pos = 2;
    let width = ppm_token(bytes, &mut pos)?;
    let height = ppm_token(bytes, &mut pos)?;
    let maxval = ppm_token(bytes, &mut pos)?;
    if maxval != 255 {
        return Err(format!("PPM maxval {maxval} is not supported (only 255)"));
    }
    // Exactly one whitespace byte separates the header from the pixels.
    pos += 1;
    raw_rgb(bytes.get(pos..).unwrap_or(&[]), width, height)
}

/// Wrap raw RGB bytes of a `width` x `height` image.
pub fn raw_rgb(bytes: &[u8], width: usize, height: usize) -> Result<Rgb, String> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "image size {width}x{height} is out of range (1..={MAX_SIDE})"
        ));
    }
    let need = width * height * 3;
    if bytes.len() < need {
        return Err(format!(
            "a {width}x{height} RGB image needs {need} bytes of pixels, got {}",
            bytes.len()
        ));
    }
    Ok(Rgb {
        width,
        height,
        pixels: bytes[..need].to_vec(),
    })
}

/// How to turn an image into the network's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Output height.
    pub height: usize,
    /// Output width.
    pub width: usize,
    /// Per-channel mean subtracted after scaling to [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by.
    pub std: [f32; 3],
}

impl Preprocess {
    /// Bilinear resize to `height` x `width` (pixel centers aligned), then
    /// `(v / 255 - mean) / std`, written as CHW into `out` (`3 * height * width` values).
    pub fn run(&self, img: &Rgb, out: &mut [f32]) {
        let (oh, ow) = (self.height, self.width);
        let sy = img.height as f32 / oh as f32;
        let sx = img.width as f32 / ow as f32;
        let px = |x: usize, y: usize, c: usize| img.pixels[(y * img.width + x) * 3 + c] as f32;
        for y in 0..oh {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (img.height - 1) as f32);
            let (y0, wy) = (fy.floor() as usize, fy - fy.floor());
            let y1 = (y0 + 1).min(img.height - 1);
            for x in 0..ow {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (img.width - 1) as f32);
                let (x0, wx) = (fx.floor() as usize, fx - fx.floor());
                let x1 = (x0 + 1).min(img.width - 1);
                for c in 0..3 {
                    let top = px(x0, y0, c) * (1.0 - wx) + px(x1, y0, c) * wx;
                    let bottom = px(x0, y1, c) * (1.0 - wx) + px(x1, y1, c) * wx;
                    let v = (top * (1.0 - wy) + bottom * wy) / 255.0;
                    out[(c * oh + y) * ow + x] = (v - self.mean[c]) / self.std[c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_with_comment() {
        let mut b = b"P6\n# made by hand\n2 1\n255\n".to_vec();
        b.extend_from_slice(&[255, 0, 0, 0, 0, 255]);
        let img = decode_ppm(&b).unwrap();
        assert_eq!((img.width, img.height), (2, 1));
        assert_eq!(img.pixels, vec![255, 0, 0, 0, 0, 255]);
        assert!(decode_ppm(b"P3\n1 1\n255\n").is_err());
        assert!(
            decode_ppm(b"P6\n4 4\n255\n\x00")
                .unwrap_err()
                .contains("needs 48 bytes")
        );
    }

    #[test]
    fn identity_resize_normalizes() {
        let img = raw_rgb(&[0, 128, 255, 255, 255, 255], 2, 1).unwrap();
        let p = Preprocess {
            height: 1,
            width: 2,
            mean: [0.5; 3],
            std: [0.5; 3],
        };
        let mut out = vec![0.0; 6];
        p.run(&img, &mut out);
        assert_eq!(out[0], -1.0); // R of pixel 0
        assert_eq!(out[1], 1.0); // R of pixel 1
        assert!((out[2] - (128.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6); // G of pixel 0
    }
}
