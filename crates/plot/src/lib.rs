//! Charts for wheelhouse: a [`Chart`] is a list of simple shapes (lines, polylines, dots,
//! rectangles, text) in a coordinate space of `width × height` units with the origin at the top
//! left, written either as SVG or as a PNG.
//!
//! The PNG is drawn here, without a font or graphics library: shapes are anti-aliased by their
//! exact pixel coverage distance (a pixel's coverage is `clamp(w/2 + ½ − d, 0, 1)` for a line of
//! width `w` at distance `d` from the pixel centre), and text uses the public-domain 8×8 bitmap
//! font of the `font8x8` crate (printable ASCII; other characters are drawn as `?`, with a few
//! typographic ones mapped to their ASCII look-alikes). PNGs are rendered at `scale` pixels per
//! unit (2 by default, so a 1000 × 640 chart is a 2000 × 1280 image).
//!
//! Files are written atomically (a temporary file in the same directory, then a rename).
#![deny(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use font8x8::legacy::BASIC_LEGACY;

/// Errors writing a chart.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The file name does not end in `.svg` or `.png`.
    #[error("{path}: unsupported plot format (use a file name ending in .svg or .png)")]
    UnsupportedFormat {
        /// The path given.
        path: PathBuf,
    },
    /// The image would be too large to render.
    #[error("chart of {width}×{height} pixels is too large to render (at most {max} pixels)")]
    TooLarge {
        /// Width in pixels.
        width: u64,
        /// Height in pixels.
        height: u64,
        /// The limit on width × height.
        max: u64,
    },
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// PNG encoding failed.
    #[error("cannot encode PNG: {0}")]
    Encode(String),
}

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub u8, pub u8, pub u8);

impl Color {
    /// Black.
    pub const BLACK: Color = Color(0, 0, 0);
    /// White.
    pub const WHITE: Color = Color(255, 255, 255);

    /// `#rrggbb` notation.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// A colour of the categorical palette (matplotlib's "tab10"), cycling.
    pub fn category(i: usize) -> Color {
        const P: [Color; 10] = [
            Color(0x1f, 0x77, 0xb4),
            Color(0xff, 0x7f, 0x0e),
            Color(0x2c, 0xa0, 0x2c),
            Color(0xd6, 0x27, 0x28),
            Color(0x94, 0x67, 0xbd),
            Color(0x8c, 0x56, 0x4b),
            Color(0xe3, 0x77, 0xc2),
            Color(0x7f, 0x7f, 0x7f),
            Color(0xbc, 0xbd, 0x22),
            Color(0x17, 0xbe, 0xcf),
        ];
        P[i % P.len()]
    }

    /// A diverging red–white–green scale for `t ∈ [−1, 1]` (losses red, gains green; clamped).
    pub fn diverging(t: f64) -> Color {
        let t = if t.is_finite() {
            t.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let mix = |a: u8, b: u8, f: f64| (f64::from(a) + (f64::from(b) - f64::from(a)) * f) as u8;
        if t < 0.0 {
            let f = -t;
            Color(mix(255, 0xc6, f), mix(255, 0x2d, f), mix(255, 0x2d, f))
        } else {
            Color(mix(255, 0x1a, t), mix(255, 0x98, t), mix(255, 0x50, t))
        }
    }
}

/// Horizontal alignment of text relative to its anchor point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at the point.
    Start,
    /// The text is centred on the point.
    Middle,
    /// The text ends at the point.
    End,
}

/// One shape.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Polyline {
        points: Vec<(f64, f64)>,
        color: Color,
        width: f64,
        opacity: f64,
    },
    Circle {
        cx: f64,
        cy: f64,
        r: f64,
        color: Color,
    },
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Color>,
        stroke: Option<Color>,
    },
    Text {
        x: f64,
        y: f64,
        text: String,
        size: f64,
        anchor: Anchor,
        color: Color,
    },
}

/// A chart: shapes drawn in order on a white background.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    width: f64,
    height: f64,
    shapes: Vec<Shape>,
}

/// Largest PNG rendered, in pixels (width × height).
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;

impl Chart {
    /// An empty chart of `width × height` units.
    pub fn new(width: f64, height: f64) -> Chart {
        Chart {
            width,
            height,
            shapes: Vec::new(),
        }
    }

    /// Width in units.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// Height in units.
    pub fn height(&self) -> f64 {
        self.height
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, color: Color, width: f64) {
        self.polyline(vec![(x1, y1), (x2, y2)], color, width, 1.0);
    }

    /// Connected segments; `opacity` in `[0, 1]`. Fewer than two points draw nothing.
    pub fn polyline(&mut self, points: Vec<(f64, f64)>, color: Color, width: f64, opacity: f64) {
        if points.len() >= 2 {
            self.shapes.push(Shape::Polyline {
                points,
                color,
                width,
                opacity: opacity.clamp(0.0, 1.0),
            });
        }
    }

    /// A filled dot of radius `r`.
    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, color: Color) {
        self.shapes.push(Shape::Circle { cx, cy, r, color });
    }

    /// A rectangle with top-left corner `(x, y)`, filled and/or outlined (1 unit wide).
    pub fn rect(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Color>,
        stroke: Option<Color>,
    ) {
        self.shapes.push(Shape::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
        });
    }

    /// Text with its baseline at `y`; `size` is the font size in units.
    pub fn text(&mut self, x: f64, y: f64, text: &str, size: f64, anchor: Anchor, color: Color) {
        self.shapes.push(Shape::Text {
            x,
            y,
            text: text.to_string(),
            size,
            anchor,
            color,
        });
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let (w, h) = (self.width, self.height);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        for shape in &self.shapes {
            match shape {
                Shape::Polyline {
                    points,
                    color,
                    width,
                    opacity,
                } => {
                    let mut d = String::new();
                    for (i, (x, y)) in points.iter().enumerate() {
                        let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
                    }
                    let op = if *opacity < 1.0 {
                        format!(r#" stroke-opacity="{opacity}""#)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        s,
                        r#"<path d="{}" fill="none" stroke="{}" stroke-width="{width}"{op}/>"#,
                        d.trim_end(),
                        color.hex()
                    );
                }
                Shape::Circle { cx, cy, r, color } => {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r}" fill="{}"/>"#,
                        color.hex()
                    );
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    let fill = fill.map_or_else(|| "none".to_string(), Color::hex);
                    let stroke =
                        stroke.map_or_else(String::new, |c| format!(r#" stroke="{}""#, c.hex()));
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"{stroke}/>"#
                    );
                }
                Shape::Text {
                    x,
                    y,
                    text,
                    size,
                    anchor,
                    color,
                } => {
                    let anchor = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let _ = writeln!(
                        s,
                        r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="{}">{}</text>"#,
                        color.hex(),
                        escape_xml(text)
                    );
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// The chart rendered at `scale` pixels per unit, as RGB pixels (row-major) with the image
    /// width and height.
    ///
    /// # Errors
    /// [`PlotError::TooLarge`] above [`MAX_PIXELS`].
    pub fn render(&self, scale: f64) -> Result<(Vec<u8>, u32, u32), PlotError> {
        let pw = (self.width * scale).ceil().max(1.0);
        let ph = (self.height * scale).ceil().max(1.0);
        if !(pw.is_finite() && ph.is_finite()) || pw * ph > MAX_PIXELS as f64 {
            return Err(PlotError::TooLarge {
                width: pw as u64,
                height: ph as u64,
                max: MAX_PIXELS,
            });
        }
        let mut c = Canvas::new(pw as usize, ph as usize);
        for shape in &self.shapes {
            match shape {
                Shape::Polyline {
                    points,
                    color,
                    width,
                    opacity,
                } => {
                    let pts: Vec<(f64, f64)> = points
                        .iter()
                        .map(|&(x, y)| (x * scale, y * scale))
                        .collect();
                    c.polyline(&pts, *color, (width * scale).max(1.0), *opacity);
                }
                Shape::Circle { cx, cy, r, color } => {
                    c.disc(cx * scale, cy * scale, r * scale, *color);
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    let (x0, y0, x1, y1) = (x * scale, y * scale, (x + w) * scale, (y + h) * scale);
                    if let Some(f) = fill {
                        c.fill_rect(x0, y0, x1, y1, *f);
                    }
                    if let Some(sc) = stroke {
                        let lw = scale.max(1.0);
                        let pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
                        c.polyline(&pts, *sc, lw, 1.0);
                    }
                }
                Shape::Text {
                    x,
                    y,
                    text,
                    size,
                    anchor,
                    color,
                } => {
                    // A glyph cell is a square of 0.6 em (the average advance of a sans-serif
                    // font), so text takes about the room it takes in the SVG.
                    let cell = (0.6 * size * scale).max(4.0);
                    let tw = text.chars().count() as f64 * cell;
                    let left = match anchor {
                        Anchor::Start => x * scale,
                        Anchor::Middle => x * scale - tw / 2.0,
                        Anchor::End => x * scale - tw,
                    };
                    // The glyphs' baseline is row 7 of the 8-row cell.
                    let top = y * scale - cell * 7.0 / 8.0;
                    c.text(left, top, text, cell, *color);
                }
            }
        }
        Ok((c.rgb, c.w as u32, c.h as u32))
    }

    /// The chart as PNG bytes at `scale` pixels per unit.
    ///
    /// # Errors
    /// [`PlotError::TooLarge`], [`PlotError::Encode`].
    pub fn to_png(&self, scale: f64) -> Result<Vec<u8>, PlotError> {
        let (rgb, w, h) = self.render(scale)?;
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc
                .write_header()
                .map_err(|e| PlotError::Encode(e.to_string()))?;
            writer
                .write_image_data(&rgb)
                .map_err(|e| PlotError::Encode(e.to_string()))?;
            writer
                .finish()
                .map_err(|e| PlotError::Encode(e.to_string()))?;
        }
        Ok(out)
    }

    /// Writes the chart to `path`, as SVG or PNG (scale 2) by the file's extension,
    /// atomically.
    ///
    /// # Errors
    /// [`PlotError::UnsupportedFormat`] for another extension; [`PlotError::Io`];
    /// the errors of [`Chart::to_png`].
    pub fn save(&self, path: &Path) -> Result<(), PlotError> {
        let bytes = match format_of(path)? {
            Format::Svg => self.to_svg().into_bytes(),
            Format::Png => self.to_png(2.0)?,
        };
        write_atomic(path, &bytes)
    }
}

/// The formats [`Chart::save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics.
    Svg,
    /// Portable network graphics.
    Png,
}

/// The format of a plot file by its extension (case-insensitive).
///
/// # Errors
/// [`PlotError::UnsupportedFormat`].
pub fn format_of(path: &Path) -> Result<Format, PlotError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(PlotError::UnsupportedFormat {
            path: path.to_path_buf(),
        }),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let io = |e: std::io::Error| PlotError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

fn escape_xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// An RGB raster with alpha blending.
struct Canvas {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            rgb: vec![255; w * h * 3],
        }
    }

    fn blend(&mut self, x: i64, y: i64, c: Color, a: f64) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h || a <= 0.0 {
            return;
        }
        let a = a.min(1.0);
        let i = (y as usize * self.w + x as usize) * 3;
        for (k, v) in [c.0, c.1, c.2].into_iter().enumerate() {
            let old = f64::from(self.rgb[i + k]);
            self.rgb[i + k] = (old + (f64::from(v) - old) * a).round() as u8;
        }
    }

    /// Pixel range covering `[lo, hi]` (pixel centres at +0.5), clipped to `0..n`.
    fn span(lo: f64, hi: f64, n: usize) -> std::ops::Range<i64> {
        let a = (lo - 0.5).floor().max(0.0) as i64;
        let b = ((hi + 0.5).ceil() as i64).min(n as i64);
        a..b.max(a)
    }

    fn polyline(&mut self, pts: &[(f64, f64)], c: Color, width: f64, opacity: f64) {
        // Coverage per pixel is the maximum over the segments, so joints are not drawn twice.
        let half = width / 2.0;
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(x, y) in pts {
            if !(x.is_finite() && y.is_finite()) {
                return;
            }
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        let xs = Self::span(x0 - half, x1 + half, self.w);
        let ys = Self::span(y0 - half, y1 + half, self.h);
        if xs.is_empty() || ys.is_empty() {
            return;
        }
        let bw = (xs.end - xs.start) as usize;
        let bh = (ys.end - ys.start) as usize;
        let mut cov = vec![0.0f32; bw * bh];
        for seg in pts.windows(2) {
            let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
            let sx = Self::span(ax.min(bx) - half, ax.max(bx) + half, self.w);
            let sy = Self::span(ay.min(by) - half, ay.max(by) + half, self.h);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            for py in sy {
                for px in sx.clone() {
                    let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
                    let t = if len2 > 0.0 {
                        (((cx - ax) * dx + (cy - ay) * dy) / len2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let (ex, ey) = (ax + t * dx - cx, ay + t * dy - cy);
                    let d = (ex * ex + ey * ey).sqrt();
                    let a = (half + 0.5 - d).clamp(0.0, 1.0) as f32;
                    let j = (py - ys.start) as usize * bw + (px - xs.start) as usize;
                    if a > cov[j] {
                        cov[j] = a;
                    }
                }
            }
        }
        for (j, &a) in cov.iter().enumerate() {
            if a > 0.0 {
                let px = xs.start + (j % bw) as i64;
                let py = ys.start + (j / bw) as i64;
                self.blend(px, py, c, f64::from(a) * opacity);
            }
        }
    }

    fn disc(&mut self, cx: f64, cy: f64, r: f64, c: Color) {
        if !(cx.is_finite() && cy.is_finite() && r.is_finite()) {
            return;
        }
        for py in Self::span(cy - r, cy + r, self.h) {
            for px in Self::span(cx - r, cx + r, self.w) {
                let (dx, dy) = (px as f64 + 0.5 - cx, py as f64 + 0.5 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                self.blend(px, py, c, (r + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }

    fn fill_rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: Color) {
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return;
        }
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        for py in Self::span(y0, y1, self.h) {
            for px in Self::span(x0, x1, self.w) {
                // Coverage of the pixel square by the rectangle.
                let fx = ((px + 1) as f64).min(x1) - (px as f64).max(x0);
                let fy = ((py + 1) as f64).min(y1) - (py as f64).max(y0);
                self.blend(px, py, c, fx.clamp(0.0, 1.0) * fy.clamp(0.0, 1.0));
            }
        }
    }

    /// Draws `text` from the 8×8 font with square cells of `cell` pixels, each output pixel
    /// blended by the fraction of it the glyph's set bits cover (box-filtered scaling).
    fn text(&mut self, left: f64, top: f64, text: &str, cell: f64, c: Color) {
        let k = 8.0 / cell; // glyph units per pixel
        for (i, ch) in text.chars().enumerate() {
            let glyph = BASIC_LEGACY[glyph_index(ch)];
            if glyph.iter().all(|&b| b == 0) {
                continue;
            }
            let gx = left + i as f64 * cell;
            for py in Self::span(top, top + cell, self.h) {
                // The pixel's extent in glyph rows.
                let (r0, r1) = ((py as f64 - top) * k, (py as f64 + 1.0 - top) * k);
                for px in Self::span(gx, gx + cell, self.w) {
                    let (c0, c1) = ((px as f64 - gx) * k, (px as f64 + 1.0 - gx) * k);
                    let mut cov = 0.0;
                    let rows = (r0.floor().max(0.0) as usize)..(r1.ceil().min(8.0) as usize);
                    for (row, &bits) in glyph.iter().enumerate().take(rows.end).skip(rows.start) {
                        let fy = (r1.min(row as f64 + 1.0) - r0.max(row as f64)).max(0.0);
                        for col in (c0.floor().max(0.0) as usize)..(c1.ceil().min(8.0) as usize) {
                            if bits & (1 << col) != 0 {
                                let fx = (c1.min(col as f64 + 1.0) - c0.max(col as f64)).max(0.0);
                                cov += fx * fy;
                            }
                        }
                    }
                    self.blend(px, py, c, cov / (k * k));
                }
            }
        }
    }
}

/// The basic-Latin glyph drawn for `ch`.
fn glyph_index(ch: char) -> usize {
    let ch = match ch {
        '–' | '—' | '−' => '-',
        '×' => 'x',
        '‘' | '’' => '\'',
        '“' | '”' => '"',
        '·' | '•' => '.',
        'σ' => 's',
        'Δ' => 'D',
        c => c,
    };
    let code = ch as u32;
    if (32..127).contains(&code) {
        code as usize
    } else {
        '?' as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(rgb: &[u8], w: u32, x: u32, y: u32) -> (u8, u8, u8) {
        let i = ((y * w + x) * 3) as usize;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    }

    #[test]
    fn raster_draws_shapes_where_they_are() {
        let mut ch = Chart::new(100.0, 50.0);
        ch.rect(10.0, 10.0, 20.0, 10.0, Some(Color(255, 0, 0)), None);
        ch.line(0.0, 40.0, 100.0, 40.0, Color::BLACK, 2.0);
        ch.circle(80.0, 15.0, 5.0, Color(0, 0, 255));
        let (rgb, w, h) = ch.render(1.0).unwrap();
        assert_eq!((w, h), (100, 50));
        assert_eq!(pixel(&rgb, w, 15, 15), (255, 0, 0));
        assert_eq!(pixel(&rgb, w, 5, 5), (255, 255, 255));
        // A 2-unit line centred on y = 40 covers the pixel rows 39 and 40 fully.
        assert_eq!(pixel(&rgb, w, 50, 39), (0, 0, 0));
        assert_eq!(pixel(&rgb, w, 50, 40), (0, 0, 0));
        assert_eq!(pixel(&rgb, w, 50, 42), (255, 255, 255));
        assert_eq!(pixel(&rgb, w, 80, 15), (0, 0, 255));
        assert_eq!(pixel(&rgb, w, 80, 25), (255, 255, 255));
    }

    #[test]
    fn text_is_drawn_from_the_font_and_anchored() {
        // At scale 2 a 12-unit font has 14.4-pixel cells (0.6 em): glyph 'I' (columns 1-4 of
        // its 8×8 bitmap) centred on x = 40 covers x ∈ [32.8, 47.2), its cell's top is at
        // y = 30 − 12.6 = 17.4 and its 7 rows end at the baseline, y = 30.
        let mut ch = Chart::new(40.0, 20.0);
        ch.text(20.0, 15.0, "I", 12.0, Anchor::Middle, Color::BLACK);
        let (rgb, w, _) = ch.render(2.0).unwrap();
        let inked: Vec<(u32, u32)> = (0..80)
            .flat_map(|x| (0..40).map(move |y| (x, y)))
            .filter(|&(x, y)| pixel(&rgb, w, x, y) != (255, 255, 255))
            .collect();
        assert!(!inked.is_empty());
        assert!(
            inked
                .iter()
                .all(|&(x, y)| (32..48).contains(&x) && (17..30).contains(&y)),
            "{inked:?}"
        );
        // The stem (columns 2-3, x ∈ [36.4, 40)) is fully inked at x = 38 mid-height.
        assert_eq!(pixel(&rgb, w, 38, 24), (0, 0, 0));
    }

    #[test]
    fn png_round_trips_through_the_decoder() {
        let mut ch = Chart::new(30.0, 20.0);
        ch.rect(0.0, 0.0, 15.0, 20.0, Some(Color(0, 128, 0)), None);
        let bytes = ch.to_png(2.0).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (60, 40));
        assert_eq!(pixel(&buf, 60, 5, 5), (0, 128, 0));
        assert_eq!(pixel(&buf, 60, 45, 5), (255, 255, 255));
    }

    #[test]
    fn svg_escapes_text_and_save_picks_the_format() {
        let mut ch = Chart::new(10.0, 10.0);
        ch.text(1.0, 5.0, "a<b & c", 12.0, Anchor::Start, Color::BLACK);
        let svg = ch.to_svg();
        assert!(svg.contains("a&lt;b &amp; c"));
        let dir = tempfile::tempdir().unwrap();
        ch.save(&dir.path().join("x.svg")).unwrap();
        ch.save(&dir.path().join("x.PNG")).unwrap();
        assert!(
            std::fs::read(dir.path().join("x.PNG"))
                .unwrap()
                .starts_with(b"\x89PNG")
        );
        let e = ch.save(&dir.path().join("x.pdf")).unwrap_err();
        assert!(matches!(e, PlotError::UnsupportedFormat { .. }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn oversized_charts_are_refused() {
        let ch = Chart::new(1e6, 1e6);
        assert!(matches!(ch.render(1.0), Err(PlotError::TooLarge { .. })));
    }

    #[test]
    fn diverging_scale_ends() {
        assert_eq!(Color::diverging(0.0), Color::WHITE);
        assert_eq!(Color::diverging(-1.0), Color(0xc6, 0x2d, 0x2d));
        assert_eq!(Color::diverging(f64::NAN), Color::WHITE);
    }
}
