//! What an object holds, judged from its first bytes.

use std::fmt;

/// How many leading bytes are read to classify an object.
pub const SAMPLE_BYTES: usize = 64 * 1024;

/// The content classes routing rules can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentClass {
    /// A JSON document (object or array).
    Json,
    /// Delimited text with a consistent number of fields per line.
    Csv,
    /// An image, recognised by its magic bytes.
    Image(ImageFormat),
    /// Anything else (including empty objects).
    Unknown,
}

/// Image formats recognised by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// `89 50 4E 47 0D 0A 1A 0A`
    Png,
    /// `FF D8 FF`
    Jpeg,
    /// `GIF87a` / `GIF89a`
    Gif,
    /// `RIFF....WEBP`
    Webp,
    /// `II*\0` / `MM\0*`
    Tiff,
}

impl ContentClass {
    /// The name routing rules use: `json`, `csv`, `image`, `unknown`.
    pub fn route_name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Image(_) => "image",
            Self::Unknown => "unknown",
        }
    }

    /// The `Content-Type` written on the routed copy.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv",
            Self::Image(ImageFormat::Png) => "image/png",
            Self::Image(ImageFormat::Jpeg) => "image/jpeg",
            Self::Image(ImageFormat::Gif) => "image/gif",
            Self::Image(ImageFormat::Webp) => "image/webp",
            Self::Image(ImageFormat::Tiff) => "image/tiff",
            Self::Unknown => "application/octet-stream",
        }
    }
}

impl fmt::Display for ContentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image(format) => write!(f, "image/{}", format!("{format:?}").to_lowercase()),
            other => f.write_str(other.route_name()),
        }
    }
}

/// Classifies `sample`, the first bytes of an object; `complete` says whether it is the whole
/// object (then JSON must parse completely, else it must be a valid JSON prefix).
pub fn classify(sample: &[u8], complete: bool) -> ContentClass {
    if let Some(format) = image_format(sample) {
        return ContentClass::Image(format);
    }
    let text = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
    if looks_like_json(text, complete) {
        return ContentClass::Json;
    }
    if looks_like_csv(text, complete) {
        return ContentClass::Csv;
    }
    ContentClass::Unknown
}

fn image_format(sample: &[u8]) -> Option<ImageFormat> {
    Some(match sample {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => ImageFormat::Png,
        [0xFF, 0xD8, 0xFF, ..] => ImageFormat::Jpeg,
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => ImageFormat::Gif,
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => ImageFormat::Webp,
        [b'I', b'I', b'*', 0, ..] | [b'M', b'M', 0, b'*', ..] => ImageFormat::Tiff,
        _ => return None,
    })
}

fn looks_like_json(text: &[u8], complete: bool) -> bool {
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    if !matches!(start.map(|i| text[i]), Some(b'{' | b'[')) {
        return false;
    }
    let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(text);
    match parsed {
        Ok(_) => true,
        // A truncated sample of a large document is still JSON if it only ran out of input.
        Err(err) => !complete && err.is_eof(),
    }
}

fn looks_like_csv(text: &[u8], complete: bool) -> bool {
    let text = match std::str::from_utf8(text) {
        Ok(text) => text,
        // A sample may end inside a multi-byte character.
        Err(err) if !complete && err.error_len().is_none() => {
            std::str::from_utf8(&text[..err.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if !complete && !text.ends_with('\n') {
        lines.pop(); // the last line may be cut short
    }
    if lines.len() < 2 || lines.iter().any(|l| l.contains('\0')) {
        return false;
    }
    [',', ';', '\t'].iter().any(|&delimiter| {
        let first = fields(lines[0], delimiter);
        first > 1 && lines.iter().all(|line| fields(line, delimiter) == first)
    })
}

/// Fields in one line, honouring double-quoted fields.
fn fields(line: &str, delimiter: char) -> usize {
    let mut quoted = false;
    let mut count = 1;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => count += 1,
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentClass::*;

    #[test]
    fn classification_table() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice();
        let cases: &[(&[u8], bool, ContentClass)] = &[
            (png, true, Image(ImageFormat::Png)),
            (
                b"\xFF\xD8\xFF\xE0\0\x10JFIF",
                true,
                Image(ImageFormat::Jpeg),
            ),
            (b"GIF89a\x01\0\x01\0", true, Image(ImageFormat::Gif)),
            (b"RIFF\x24\0\0\0WEBPVP8 ", true, Image(ImageFormat::Webp)),
            (b"II*\0\x08\0\0\0", true, Image(ImageFormat::Tiff)),
            (br#"{"orders": [1, 2]}"#, true, Json),
            (b"\xEF\xBB\xBF  [1, 2, 3]\n", true, Json),
            (br#"{"orders": [1, 2"#, false, Json),
            (br#"{"orders": [1, 2"#, true, Unknown),
            (br#"{"orders": }"#, false, Unknown),
            (
                b"region,quarter,revenue\nemea,Q4,1250000\napac,Q4,980000\n",
                true,
                Csv,
            ),
            (b"a;b;c\n1;2;3\n", true, Csv),
            (b"name,quote\n\"Smith, J\",\"hi, there\"\n", true, Csv),
            (b"a,b\n1,2\n3,4,5\n", true, Unknown),
            (b"a,b\n1,2\n3,", false, Csv),
            (b"just one line, with a comma\n", true, Unknown),
            (b"plain text\nwithout delimiters\n", true, Unknown),
            (b"\x7fELF\x02\x01\x01\0", true, Unknown),
            (b"", true, Unknown),
        ];
        for (sample, complete, expected) in cases {
            assert_eq!(
                classify(sample, *complete),
                *expected,
                "{:?}",
                String::from_utf8_lossy(sample)
            );
        }
    }

    #[test]
    fn truncated_utf8_at_the_end_of_a_sample_is_tolerated() {
        let mut sample = "name,city\nJörg,Köln\nAnna,Zürich\nX,".as_bytes().to_vec();
        sample.extend_from_slice(&"ü".as_bytes()[..1]);
        assert_eq!(classify(&sample, false), Csv);
        assert_eq!(classify(&sample, true), Unknown);
    }

    #[test]
    fn names_and_content_types() {
        assert_eq!(Image(ImageFormat::Png).route_name(), "image");
        assert_eq!(Image(ImageFormat::Png).to_string(), "image/png");
        assert_eq!(Csv.content_type(), "text/csv");
        assert_eq!(Unknown.to_string(), "unknown");
    }
}
