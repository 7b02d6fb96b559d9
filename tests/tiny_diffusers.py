"""Tiny randomly initialized diffusers pipeline folders in the real on-disk layout (save_pretrained), for tests."""
from __future__ import annotations

import torch


def _tokenizer(words=("a", "rubber", "duck", "photo", "of", "front", "side", "back", "overhead", "view", ",")):
    """A word-level fast tokenizer saved as tokenizer.json (no sentencepiece model, nothing downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=77)


def make_tiny_if(folder: str, seed: int = 0) -> str:
    """DeepFloyd IF stage I in miniature: T5 text encoder, a text-conditioned pixel U-Net at 64² predicting
    epsilon and a variance (6 channels), the cosine DDPM schedule."""
    from diffusers import DDPMScheduler, IFPipeline, UNet2DConditionModel
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(seed)
    text_encoder = T5EncoderModel(T5Config(vocab_size=32, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4))
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=3, out_channels=6, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", cross_attention_dim=32, encoder_hid_dim=32,
        attention_head_dim=8, addition_embed_type="text", addition_embed_type_num_heads=4,
        resnet_time_scale_shift="scale_shift", norm_num_groups=8)
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", variance_type="learned_range",
                              prediction_type="epsilon")
    pipe = IFPipeline(tokenizer=_tokenizer(), text_encoder=text_encoder, unet=unet, scheduler=scheduler,
                      safety_checker=None, feature_extractor=None, watermarker=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
