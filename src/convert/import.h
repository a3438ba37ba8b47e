/*
 * import.h — the converter's view of a source model (import.c): its components as stores
 * under diffusers names with their config.json, and the files a bundle copies as they are.
 * Private to src/convert.
 */
#ifndef SDC_CONVERT_IMPORT_H
#define SDC_CONVERT_IMPORT_H

#include "convert/convert.h"

#define SDC_IMPORT_MAX_COMPONENTS 8

typedef struct sdc_import_component {
    const char *name;           /* "text_encoder", "text_encoder_2", "unet", "vae",
                                   "safety_checker", "controlnet" (static) */
    char *class_name;           /* the diffusers / transformers class */
    char *dir;                  /* diffusers: the component folder; NULL for a single file */
    sdc_clip_ldm_layout layout; /* single file, text encoders: the layout read */
    sdc_model_config config;    /* config.json, or one written from the derived configuration */
} sdc_import_component;

typedef struct sdc_import {
    sdc_context *ctx;
    char *path;
    const char *family;   /* "sd1", "sd2", "sdxl", "sdxl-refiner" (static) */
    char *pipeline_class; /* model_index.json's _class_name, or what a single file is */
    sdc_import_component components[SDC_IMPORT_MAX_COMPONENTS]; /* in bundle order */
    size_t n_components;
    char *tokenizer_dirs[2];            /* "tokenizer", "tokenizer_2" folders, or NULL */
    sdc_model_config scheduler;         /* scheduler_config.json (root NULL when none) */
    sdc_model_config feature_extractor; /* preprocessor_config.json (root NULL when none) */
    sdc_model_config model_index;       /* model_index.json (root NULL when none) */
    sdc_weights_file *file;             /* a single-file checkpoint, else NULL */
} sdc_import;

/* Opens a diffusers pipeline folder, a ControlNetModel folder or a single-file checkpoint and
 * reads every config; weights are opened by sdc_import_store. An unknown layout is an error
 * naming the path. */
sdc_status sdc_import_open(sdc_context *ctx, const char *path, sdc_import **out);
void sdc_import_close(sdc_import *imp);
/* NULL when the source has no such component. */
const sdc_import_component *sdc_import_find(const sdc_import *imp, const char *name);
/* A fresh store of the component's tensors under diffusers names (the caller owns it). */
sdc_status sdc_import_store(const sdc_import *imp, const sdc_import_component *c, sdc_store **out);

/* Runs the source and the converted component file (`converted`) on the same fixed random
 * inputs (check.c) and sets *psnr to the worst PSNR over its outputs. Components without a
 * check (the safety checker) leave *checked false. */
sdc_status sdc_convert_check(sdc_context *ctx, const sdc_import *imp, const sdc_import_component *c,
                             const char *converted, bool *checked, double *psnr);

#endif /* SDC_CONVERT_IMPORT_H */
