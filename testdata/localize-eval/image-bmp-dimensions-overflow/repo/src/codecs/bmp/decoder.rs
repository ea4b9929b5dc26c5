use std::io::{self, Read, Seek, SeekFrom};

use crate::error::{DecodingError, ImageError, ImageResult};
use crate::image::ImageFormat;

pub struct BmpDecoder<R> {
    reader: R,
    width: i32,
    height: i32,
    bit_count: u16,
    top_down: bool,
    add_alpha_channel: bool,
    has_loaded_metadata: bool,
}

impl<R: Read + Seek> BmpDecoder<R> {
    pub fn new(reader: R) -> ImageResult<BmpDecoder<R>> {
        let mut decoder = BmpDecoder {
            reader,
            width: 0,
            height: 0,
            bit_count: 0,
            top_down: false,
            add_alpha_channel: false,
            has_loaded_metadata: false,
        };
        decoder.read_metadata()?;
        Ok(decoder)
    }

    fn read_metadata(&mut self) -> ImageResult<()> {
        if !self.has_loaded_metadata {
            self.read_file_header()?;
            self.has_loaded_metadata = true;
        }
        Ok(())
    }

    fn read_file_header(&mut self) -> ImageResult<()> {
        let mut signature = [0; 2];
        self.reader.read_exact(&mut signature)?;
        if signature != b"BM"[..] {
            return Err(DecodingError::new(ImageFormat::Bmp.into(), "BMP signature not found").into());
        }
        self.reader.seek(SeekFrom::Current(16))?;
        self.width = read_i32(&mut self.reader)?;
        self.height = read_i32(&mut self.reader)?;
        if self.height < 0 {
            self.height = -self.height;
            self.top_down = true;
        }
        Ok(())
    }

    fn num_channels(&self) -> usize {
        if self.add_alpha_channel {
            4
        } else {
            3
        }
    }

    fn create_pixel_data(&self) -> Vec<u8> {
        let row_width = self.num_channels() * self.width as usize;
        let max_pixels = self.num_channels() * MAX_INITIAL_PIXELS;
        let max_initial_size = row_width * self.height as usize;
        vec![0xFF; std::cmp::min(max_initial_size, max_pixels)]
    }

    fn read_image_data(&mut self, buf: &mut [u8]) -> ImageResult<()> {
        let data = self.read_full_image_data()?;
        buf.copy_from_slice(&data);
        Ok(())
    }

    fn read_full_image_data(&mut self) -> ImageResult<Vec<u8>> {
        let mut pixel_data = self.create_pixel_data();
        self.reader.read_exact(&mut pixel_data)?;
        Ok(pixel_data)
    }
}

const MAX_INITIAL_PIXELS: usize = 8192 * 4096;

fn read_i32<R: Read>(r: &mut R) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_le_bytes(b))
}

impl From<ImageFormat> for crate::error::ImageFormatHint {
    fn from(f: ImageFormat) -> Self {
        crate::error::ImageFormatHint::Exact(f)
    }
}

pub fn decode(data: &[u8]) -> Result<(), ImageError> {
    let mut decoder = BmpDecoder::new(io::Cursor::new(data))?;
    let mut buf = vec![0; 16];
    decoder.read_image_data(&mut buf)
}
