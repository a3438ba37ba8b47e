"""Makes the small images in this folder and prints the values tests/io/test_image.c expects.

    /work/venv/bin/python tests/data/images/formats/make_formats.py          # write the files
    /work/venv/bin/python tests/data/images/formats/make_formats.py --expect # print C arrays

Made with Pillow 10.4.0 (libjpeg-turbo 3.0.3, zlib 1.2.13) and numpy 1.26.4. Pillow writes
what it can (palette, tRNS, 16-bit gray, gray+alpha, 1-bit, JPEGs); a few lines of zlib below
write what Pillow cannot (Adam7 interlacing, 16-bit RGBA, 2-bit gray, text after IDAT).
Expected pixels are Pillow's decode of each file, except 16-bit gray: Pillow's convert("L")
clips I;16 at 255, so the expected values there are v >> 8 (libpng's png_set_strip_16, and
what Pillow itself does for 16-bit RGBA).
"""
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

HERE = Path(__file__).resolve().parent
W, H = 7, 5  # odd sizes: Adam7 passes 2..7 are partial


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def raw_png(path, width, height, bit_depth, color_type, rows, interlace=False,
            before=(), after=(), plte=None):
    """rows: list of packed scanlines (bytes), full image; filter 0 everywhere."""
    def pack_pass(xs, ys):
        out = b""
        bpp_bits = bit_depth * {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
        for y in ys:
            bits = "".join(format(b, "08b") for b in rows[y])
            line = "".join(bits[x * bpp_bits:(x + 1) * bpp_bits] for x in xs)
            line += "0" * (-len(line) % 8)
            out += b"\0" + int(line, 2).to_bytes(len(line) // 8, "big") if line else b""
        return out

    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                  (1, 0, 2, 2), (0, 1, 1, 2)]
        data = b"".join(pack_pass(range(x0, width, dx), range(y0, height, dy))
                        for x0, y0, dx, dy in passes
                        if x0 < width and y0 < height)
    else:
        data = b"".join(b"\0" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, int(interlace))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte:
        png += chunk(b"PLTE", plte)
    for k, d in before:
        png += chunk(k, d)
    png += chunk(b"IDAT", zlib.compress(data, 9))
    for k, d in after:
        png += chunk(k, d)
    png += chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def pack_bits(values, bits):
    s = "".join(format(int(v), f"0{bits}b") for v in values)
    s += "0" * (-len(s) % 8)
    return int(s, 2).to_bytes(len(s) // 8, "big")


def make():
    rng = np.random.default_rng(20240611)

    # Palette (8-bit) with tRNS: alphas 0, 64, 128, 255 among 6 entries.
    pal = Image.fromarray(rng.integers(0, 6, (H, W), dtype=np.uint8), "P")
    pal.putpalette([10, 20, 30, 200, 0, 0, 0, 200, 0, 0, 0, 200, 255, 255, 255, 90, 91, 92])
    pal.save(HERE / "palette_trns.png", transparency=bytes([0, 64, 128, 255, 255, 200]))

    # Palette with 4-bit indices, no tRNS.
    pal4 = Image.fromarray(rng.integers(0, 12, (H, W), dtype=np.uint8), "P")
    pal4.putpalette([int(v) for v in rng.integers(0, 256, 36)])
    pal4.save(HERE / "palette4.png", bits=4)

    # 16-bit gray.
    g16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
    Image.fromarray(g16, "I;16").save(HERE / "gray16.png")

    # 16-bit RGBA.
    rgba16 = rng.integers(0, 65536, (H, W, 4), dtype=np.uint16)
    raw_png(HERE / "rgba16.png", W, H, 16, 6, [r.astype(">u2").tobytes() for r in rgba16])

    # Gray + alpha, 8-bit.
    Image.fromarray(rng.integers(0, 256, (H, W, 2), dtype=np.uint8), "LA").save(
        HERE / "gray_alpha.png")

    # 8-bit gray with a tRNS key (value 77 transparent).
    g8 = rng.integers(70, 85, (H, W), dtype=np.uint8)
    Image.fromarray(g8, "L").save(HERE / "gray_trns.png", transparency=77)

    # RGB with a tRNS key.
    rgb = rng.integers(0, 3, (H, W, 3), dtype=np.uint8) * 100
    rgb[0, 0] = rgb[2, 3] = (100, 0, 200)
    Image.fromarray(rgb, "RGB").save(HERE / "rgb_trns.png", transparency=(100, 0, 200))

    # 1-bit gray.
    Image.fromarray(rng.integers(0, 2, (H, W), dtype=np.uint8) * 255, "L").convert("1").save(
        HERE / "gray1.png")

    # 2-bit gray, plain and Adam7-interlaced; 8-bit RGB interlaced.
    g2 = rng.integers(0, 4, (H, W), dtype=np.uint8)
    raw_png(HERE / "gray2.png", W, H, 2, 0, [pack_bits(r, 2) for r in g2])
    raw_png(HERE / "gray2_interlaced.png", W, H, 2, 0, [pack_bits(r, 2) for r in g2],
            interlace=True)
    rgbi = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    raw_png(HERE / "rgb_interlaced.png", W, H, 8, 2, [r.tobytes() for r in rgbi],
            interlace=True)

    # Text: tEXt (Latin-1 "café") and iTXt before IDAT, zTXt and compressed iTXt after it.
    z = zlib.compress
    raw_png(HERE / "text.png", 2, 2, 8, 0, [b"\x00\x40", b"\x80\xff"],
            before=[(b"tEXt", b"Title\0caf\xe9"),
                    (b"iTXt", b"prompt\0\0\0\0\0" + "a 猫 on a mat".encode())],
            after=[(b"zTXt", b"Comment\0\0" + z("naïve zipped text".encode("latin-1"))),
                   (b"iTXt", b"Long\0\x01\0ja\0\0" + z(("猫" * 40).encode()))])

    # JPEGs: gray, CMYK (Pillow writes an Adobe marker and inverted samples), progressive.
    yy, xx = np.mgrid[0:8, 0:8]
    Image.fromarray((xx * 30 + yy * 3).astype(np.uint8), "L").save(HERE / "gray.jpg",
                                                                 quality=90)
    cmyk = np.stack([xx * 32, yy * 32, (xx + yy) * 16, np.full((8, 8), 40)], -1)
    Image.fromarray(cmyk.astype(np.uint8), "CMYK").save(HERE / "cmyk.jpg", quality=90)
    yy, xx = np.mgrid[0:16, 0:16]
    prog = np.stack([xx * 16, yy * 16, 255 - xx * 8 - yy * 8], -1).astype(np.uint8)
    Image.fromarray(prog, "RGB").save(HERE / "progressive.jpg", quality=85, progressive=True,
                                      subsampling=2)


def c_array(name, a):
    vals = ", ".join(str(int(v)) for v in np.asarray(a).reshape(-1))
    return f"static const uint8_t {name}[] = {{{vals}}};"


def expect():
    out = []
    f = lambda n: Image.open(HERE / n)  # noqa: E731
    out.append(c_array("palette_trns_rgba", np.asarray(f("palette_trns.png").convert("RGBA"))))
    out.append(c_array("palette4_rgb", np.asarray(f("palette4.png").convert("RGB"))))
    g16 = np.asarray(f("gray16.png"))
    out.append(c_array("gray16_gray", g16.astype(np.uint32) >> 8))
    rgba16 = np.asarray(f("rgba16.png"))
    out.append(c_array("rgba16_rgba", rgba16))
    out.append(c_array("gray_alpha_rgba", np.asarray(f("gray_alpha.png").convert("RGBA"))))
    out.append(c_array("gray_trns_rgba", np.asarray(f("gray_trns.png").convert("RGBA"))))
    out.append(c_array("rgb_trns_rgba", np.asarray(f("rgb_trns.png").convert("RGBA"))))
    out.append(c_array("gray1_gray", np.asarray(f("gray1.png").convert("L"))))
    out.append(c_array("gray2_gray", np.asarray(f("gray2.png").convert("L"))))
    assert (np.asarray(f("gray2_interlaced.png").convert("L")) ==
            np.asarray(f("gray2.png").convert("L"))).all()
    out.append(c_array("rgb_interlaced_rgb", np.asarray(f("rgb_interlaced.png").convert("RGB"))))
    t = f("text.png")
    t.load()
    out.append("/* text.png: " + repr(dict(t.text)) + " */")
    out.append(c_array("gray_jpg", np.asarray(f("gray.jpg"))))
    out.append(c_array("cmyk_jpg_rgb", np.asarray(f("cmyk.jpg").convert("RGB"))))
    out.append(c_array("progressive_jpg", np.asarray(f("progressive.jpg"))))
    print("\n".join(out))


if __name__ == "__main__":
    expect() if "--expect" in sys.argv else make()
