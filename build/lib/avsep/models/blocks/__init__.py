"""Building blocks shared by the zoo: conv blocks, FiLM, dense blocks, U-Net, mask heads."""

from avsep.models.blocks.conv import ACTIVATIONS, NORMS, ConvBlock, activation, conv_layer
from avsep.models.blocks.dense import Compression, DenseBlock
from avsep.models.blocks.film import FiLM, FiLMGenerator, apply_film
from avsep.models.blocks.heads import MASK_ACTIVATIONS, MaskActivation, complex_mask
from avsep.models.blocks.unet import UNet, UNetDecoder, UNetEncoder

__all__ = [
    "ACTIVATIONS", "NORMS", "MASK_ACTIVATIONS", "Compression", "ConvBlock", "DenseBlock", "FiLM",
    "FiLMGenerator", "MaskActivation", "UNet", "UNetDecoder", "UNetEncoder", "activation",
    "apply_film", "complex_mask", "conv_layer",
]
