#!/usr/bin/env bash
# Every diffusion result of experiments/results/diffusion.md, in the order run
# (2-core CPU shared with other jobs, so everything under nice -n 19):
#   bash experiments/diffusion/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/results/diffusion
mkdir -p runs "$out"
sweep() { nice -n 19 python experiments/diffusion/sweep.py "$@"; }

# 1. Pixel-space conditional model: the config's 1200 steps, then continued
#    (steps only schedules the work, so this equals one run of 2000 steps; the
#    recorded run was started with --config.steps=2400 and stopped with kill -9
#    right after its step-2000 checkpoint, which is the state evaluated below).
nice -n 19 jaxgen train --config experiments/diffusion/pixel_cond.py --workdir runs/ddpm_pixel_cond
nice -n 19 jaxgen train --config experiments/diffusion/pixel_cond.py --workdir runs/ddpm_pixel_cond \
  --config.steps=2000

# 2. Steps sweep, DDIM (eta 0) and DDPM (beta_tilde), guidance 0, N = 500 each.
sweep --workdir runs/ddpm_pixel_cond --num 500 --out $out/steps_sweep.jsonl \
  --set sampler=ddim,sample_steps=10 --set sampler=ddim,sample_steps=20 \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=10 \
  --set sampler=ddpm,sample_steps=20 --set sampler=ddpm,sample_steps=50

# 2b. The same sweep at 100 and 250 steps (N = 500).
sweep --workdir runs/ddpm_pixel_cond --num 500 --out $out/steps_sweep.jsonl \
  --set sampler=ddim,sample_steps=100 --set sampler=ddpm,sample_steps=100 \
  --set sampler=ddim,sample_steps=250 --set sampler=ddpm,sample_steps=250

# 3. Guidance sweep, DDIM-20, N = 500 (w = 0 is the DDIM-20 row of step 2).
sweep --workdir runs/ddpm_pixel_cond --num 500 --out $out/guidance_sweep.jsonl \
  --set sampler=ddim,sample_steps=20,guidance=1.0 --set sampler=ddim,sample_steps=20,guidance=3.0

# 4. Variational bound on 200 test images (50 stratified levels per image).
#    Recorded with the family's former `vb` evaluation; the shared `nll` that
#    replaced it computes the same estimator with other random draws (each
#    image its own levels and noise), so a rerun differs by Monte Carlo noise.
nice -n 19 jaxgen eval --workdir runs/ddpm_pixel_cond --metrics nll --num 200 --config.vb_timesteps=50

# 5. Latent diffusion on runs/vae_latent32 and its samples.
nice -n 19 jaxgen train --config experiments/diffusion/latent_vae32.py --workdir runs/ddpm_latent_vae32
sweep --workdir runs/ddpm_latent_vae32 --num 500 --out $out/latent_sweep.jsonl \
  --set sampler=ddim,sample_steps=20 --set sampler=ddim,sample_steps=50

# 6. Benchmark (train step vs PyTorch; sampler images/s).
nice -n 19 python benchmarks/diffusion_train_step.py

# 7. Pictures (forward process, reverse chain, guidance grids).
nice -n 19 jaxgen eval --workdir runs/ddpm_pixel_cond --metrics pictures

# 8. DDPM-1000 and its DDIM-50 partner at N = 100.
sweep --workdir runs/ddpm_pixel_cond --num 100 --batch 50 --out $out/steps_sweep.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=1000

# 9. The same model trained 3x longer (6000 steps, 6.4 epochs), then DDIM and
#    DDPM at 20 and 50 steps and DDPM-1000, all at N = 500.
nice -n 19 jaxgen train --config experiments/diffusion/pixel_cond.py --workdir runs/ddpm_pixel_cond_6k \
  --config.steps=6000
sweep --workdir runs/ddpm_pixel_cond_6k --num 500 --out $out/steps_sweep_6k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50 \
  --set sampler=ddim,sample_steps=20 --set sampler=ddpm,sample_steps=20
sweep --workdir runs/ddpm_pixel_cond_6k --num 500 --out $out/steps_sweep_6k.jsonl \
  --set sampler=ddpm,sample_steps=1000

# 10. v-prediction, 2000 steps, DDIM-50 and DDPM-50 at N = 500.
nice -n 19 jaxgen train --config experiments/diffusion/pixel_cond.py --workdir runs/ddpm_pixel_v \
  --config.steps=2000 --config.prediction=v
sweep --workdir runs/ddpm_pixel_v --num 500 --out $out/prediction_sweep.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50

# 11. Cosine schedule (eps), 2000 steps, DDIM-50 and DDPM-50 at N = 500.
nice -n 19 jaxgen train --config experiments/diffusion/pixel_cond.py --workdir runs/ddpm_pixel_cosine \
  --config.steps=2000 --config.schedule=cosine
sweep --workdir runs/ddpm_pixel_cosine --num 500 --out $out/schedule_sweep.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50

# 12. v-prediction trained as long as the 6000-step eps model; DDIM-50, DDPM-50
#     and DDPM-1000 at N = 500.
nice -n 19 jaxgen train --config experiments/diffusion/pixel_cond.py --workdir runs/ddpm_pixel_v6k \
  --config.steps=6000 --config.prediction=v
sweep --workdir runs/ddpm_pixel_v6k --num 500 --out $out/v_pred_6k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
sweep --workdir runs/ddpm_pixel_v6k --num 500 --out $out/v_pred_6k.jsonl \
  --set sampler=ddpm,sample_steps=1000

# 13. The 6000-step eps model: DDIM-50 without x0 clipping, and the FID's
#     sampling noise (the same settings drawn with seed 1).
sweep --workdir runs/ddpm_pixel_cond_6k --num 500 --out $out/steps_sweep_6k.jsonl \
  --set sampler=ddim,sample_steps=50,clip_x0=false
sweep --workdir runs/ddpm_pixel_cond_6k --num 500 --seed 1 --out $out/seed_check_6k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
sweep --workdir runs/ddpm_pixel_cond_6k --num 500 --seed 1 --out $out/seed_check_6k.jsonl \
  --set sampler=ddpm,sample_steps=1000

# 14. The v model's DDIM-50 with eta 0.2 and 0.5 (seeds 0 and 1), and its
#     DDIM-50 / DDPM-50 / DDPM-1000 redrawn with seed 1.
for seed in 0 1; do
  sweep --workdir runs/ddpm_pixel_v6k --num 500 --seed $seed --out $out/v_pred_6k.jsonl \
    --set sampler=ddim,sample_steps=50,eta=0.2 --set sampler=ddim,sample_steps=50,eta=0.5
done
sweep --workdir runs/ddpm_pixel_v6k --num 500 --seed 1 --out $out/v_pred_6k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50 \
  --set sampler=ddpm,sample_steps=1000

# 15. The 6000-step eps model: deterministic DDIM with more steps, pixel
#     statistics of its samples, and DDIM-50 from checkpoint-averaged weights.
sweep --workdir runs/ddpm_pixel_cond_6k --num 500 --out $out/steps_sweep_6k.jsonl \
  --set sampler=ddim,sample_steps=100 --set sampler=ddim,sample_steps=250
nice -n 19 python experiments/diffusion/pixel_stats.py --workdir runs/ddpm_pixel_cond_6k --num 200 \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
sweep --workdir runs/ddpm_pixel_cond_6k --num 500 --average-steps 5600,5800,6000 \
  --out $out/steps_sweep_6k.jsonl --set sampler=ddim,sample_steps=50

# 16. The v model trained on to 15000 steps: a copy of run 12's workdir
#     resumed (`steps` only schedules the work, so this equals one run of
#     15000 steps), keeping every checkpoint from 7500 on; then DDIM-50 and
#     DDPM-50 at steps 12000 and 15000, DDPM-1000 at 15000, two sampling seeds
#     at 15000, and DDIM-50 with eta 0.2 / 0.5.
cp -a runs/ddpm_pixel_v6k runs/ddpm_pixel_v15k
nice -n 5 jaxgen train --config experiments/diffusion/pixel_cond.py --workdir runs/ddpm_pixel_v15k \
  --config.steps=15000 --config.prediction=v --config.ckpt_every=500 --config.max_to_keep=30
sweep --workdir runs/ddpm_pixel_v15k --step 9000 --num 500 --out $out/v_pred_15k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
sweep --workdir runs/ddpm_pixel_v15k --num 500 --out $out/v_pred_15k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
sweep --workdir runs/ddpm_pixel_v15k --step 12000 --num 500 --out $out/v_pred_15k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed 1 --out $out/v_pred_15k.jsonl \
  --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
for seed in 0 1; do
  sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed $seed --out $out/v_pred_15k.jsonl \
    --set sampler=ddpm,sample_steps=1000
done
for seed in 0 1; do
  sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed $seed --out $out/v_pred_15k.jsonl \
    --set sampler=ddim,sample_steps=50,eta=0.2 --set sampler=ddim,sample_steps=50,eta=0.5
done

# 17. Classifier-free guidance on the 15000-step v model: DDIM-50 (eta 0) and
#     DDPM-50 at w = 0.25, 0.5, 1, 2 (seed 0; 0.25 and 0.5 also seed 1), DDIM-50
#     at w = 0.75, pixel statistics at w = 0 and 0.5, and DDPM-1000 at w = 0.5
#     and 0.25 (seed 0; 0.25 also seed 1; about 45 min each: guidance doubles the batch).
for w in 1.0 0.5 2.0; do
  sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed 0 --out $out/v15k_guidance.jsonl \
    --set sampler=ddim,sample_steps=50,eta=0.0,guidance=$w --set sampler=ddpm,sample_steps=50,guidance=$w
done
sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed 1 --out $out/v15k_guidance.jsonl \
  --set sampler=ddim,sample_steps=50,eta=0.0,guidance=0.5 --set sampler=ddpm,sample_steps=50,guidance=0.5
for seed in 0 1; do
  sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed $seed --out $out/v15k_guidance.jsonl \
    --set sampler=ddim,sample_steps=50,eta=0.0,guidance=0.25 --set sampler=ddpm,sample_steps=50,guidance=0.25
done
sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed 0 --out $out/v15k_guidance.jsonl \
  --set sampler=ddim,sample_steps=50,eta=0.0,guidance=0.75
nice -n 19 python experiments/diffusion/pixel_stats.py --workdir runs/ddpm_pixel_v15k --num 200 \
  --set sampler=ddim,sample_steps=50,guidance=0.0 --set sampler=ddpm,sample_steps=50,guidance=0.0 \
  --set sampler=ddim,sample_steps=50,guidance=0.5 --set sampler=ddpm,sample_steps=50,guidance=0.5
for w in 0.5 0.25; do
  sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed 0 --out $out/v15k_guidance.jsonl \
    --set sampler=ddpm,sample_steps=1000,guidance=$w
done
sweep --workdir runs/ddpm_pixel_v15k --num 500 --seed 1 --out $out/v15k_guidance.jsonl \
  --set sampler=ddpm,sample_steps=1000,guidance=0.25
