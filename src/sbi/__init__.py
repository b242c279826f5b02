"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): training fakes made from real videos alone.

A face is blended with a perturbed copy of itself inside a mask derived from its landmarks. The copy differs in
colour (hue, saturation, brightness, contrast), frequency content (sharpened or blurred) and geometry (slightly
scaled and shifted about the face centre), so the result shows exactly the traces a face swap leaves — a blending
boundary, a colour and sharpness mismatch, a misaligned inner face — without any second identity or generator.

``blend`` is the image maths and the mask, ``video`` one video's fake (detection, the followed face, encoding),
``dataset`` a folder of real videos turned into a ``data=folder`` dataset, ``__main__`` the command
(``python -m src.sbi source=real.mp4 target=fake.mp4``).
"""
