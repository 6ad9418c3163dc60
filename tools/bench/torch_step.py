"""
The PyTorch side of `npm run bench` section 1: one training step of the study's models, written as
the references write them, timed on this machine's CPU.

  /usr/bin/python3 tools/bench/torch_step.py --model classifier|dcgan|cyclegan --threads N
      [--batch 32] [--size 64] [--warmup 2] [--reps 5]

Prints one JSON line: {"model", "threads", "batch", "size", "times_ms": [...], "median_ms",
"cpu_ms": [...], "median_cpu_ms", "images_per_s", "torch"} (cpu_ms: this process's CPU time per step,
which a busy machine inflates less than wall time). Images per second = batch / median step time (CycleGAN: images of domain
A per step, as its batch counts them).

The models are the same layers, sizes, batch and optimizer as libs/models (see each builder there):
- classifier: Conv(3,32,3,p1) ReLU MaxPool2 Conv(32,64,3,p1) ReLU MaxPool2 Linear(64*(S/4)^2,128)
  ReLU Linear(128,2), cross-entropy, Adam(1e-3).
- dcgan: pytorch/examples dcgan/main.py at 64 px (nz 100, ngf = ndf = 64, bias=False, BatchNorm),
  BCE-with-logits, Adam(2e-4, (0.5, 0.999)); its inner loop: D on real and on G(z).detach(), one D
  update, then G against the updated D. (Our tfjs step runs G's forward a second time inside G's
  gradient scope; the reference reuses `fake`. We time the reference as users run it.)
- cyclegan: junyanz ResnetGenerator (ngf 64, 6 blocks at 64 px, instance norm, reflection padding)
  and NLayerDiscriminator (ndf 64, 3 layers), LSGAN + cycle (10) + identity (0.5), 50-image pools,
  one Adam over both G, one over both D, the reference's optimize_parameters order.
"""
import argparse
import json
import random
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def classifier(size):
    flat = 64 * (size // 4) * (size // 4)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, 2))


def dcgan_g(nz=100, ngf=64):
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())


def dcgan_d(ndf=64):
    return nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.block(x)


def resnet_g(ngf=64, blocks=6):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True),
              nn.Conv2d(ngf, ngf * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * 2), nn.ReLU(True),
              nn.Conv2d(ngf * 2, ngf * 4, 3, 2, 1), nn.InstanceNorm2d(ngf * 4), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 4) for _ in range(blocks)]
    layers += [nn.ConvTranspose2d(ngf * 4, ngf * 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ngf * 2), nn.ReLU(True),
               nn.ConvTranspose2d(ngf * 2, ngf, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ngf), nn.ReLU(True),
               nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def patch_d(ndf=64, n_layers=3):
    layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1), nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
    prev, mult = mult, min(2 ** n_layers, 8)
    layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1), nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True),
               nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


class ImagePool:
    """util/image_pool.py."""

    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, images):
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def classifier_step(batch, size):
    net = classifier(size)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 2, (batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def dcgan_step(batch, size):
    if size != 64:
        raise SystemExit(f'dcgan: the reference architecture is 64 px, got --size {size}')
    g, d = dcgan_g(), dcgan_d()
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.randn(batch, 3, size, size)
    ones, zeros = torch.ones(batch), torch.zeros(batch)

    def step():
        d.zero_grad()
        err_real = bce(d(real).view(-1), ones)
        err_real.backward()
        fake = g(torch.randn(batch, 100, 1, 1))
        err_fake = bce(d(fake.detach()).view(-1), zeros)
        err_fake.backward()
        opt_d.step()
        g.zero_grad()
        err_g = bce(d(fake).view(-1), ones)
        err_g.backward()
        opt_g.step()
        return (err_real + err_fake).item(), err_g.item()
    return step


def cyclegan_step(batch, size):
    g_a, g_b = resnet_g(blocks=6 if size < 256 else 9), resnet_g(blocks=6 if size < 256 else 9)
    d_a, d_b = patch_d(), patch_d()
    opt_g = torch.optim.Adam(list(g_a.parameters()) + list(g_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = ImagePool(50), ImagePool(50)
    real_a, real_b = torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size)

    def mse(pred, target):
        return F.mse_loss(pred, torch.full_like(pred, target))

    def step():
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(False)
        opt_g.zero_grad()
        idt_a = F.l1_loss(g_a(real_b), real_b) * 10 * 0.5
        idt_b = F.l1_loss(g_b(real_a), real_a) * 10 * 0.5
        loss_g = (mse(d_a(fake_b), 1) + mse(d_b(fake_a), 1) + F.l1_loss(rec_a, real_a) * 10
                  + F.l1_loss(rec_b, real_b) * 10 + idt_a + idt_b)
        loss_g.backward()
        opt_g.step()
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(True)
        opt_d.zero_grad()
        pb = pool_b.query(fake_b)
        loss_da = (mse(d_a(real_b), 1) + mse(d_a(pb.detach()), 0)) * 0.5
        loss_da.backward()
        pa = pool_a.query(fake_a)
        loss_db = (mse(d_b(real_a), 1) + mse(d_b(pa.detach()), 0)) * 0.5
        loss_db.backward()
        opt_d.step()
        return loss_g.item(), loss_da.item(), loss_db.item()
    return step


STEPS = {'classifier': classifier_step, 'dcgan': dcgan_step, 'cyclegan': cyclegan_step}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True, choices=sorted(STEPS))
    p.add_argument('--threads', type=int, required=True)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--reps', type=int, default=5)
    a = p.parse_args()
    if a.threads < 1 or a.batch < 1 or a.reps < 1 or a.warmup < 0:
        raise SystemExit(f'threads, batch, reps must be >= 1 and warmup >= 0, got {vars(a)}')
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    random.seed(0)
    step = STEPS[a.model](a.batch, a.size)
    for _ in range(a.warmup):
        step()
    times, cpu = [], []
    for _ in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    med = statistics.median(times)
    print(json.dumps({'model': a.model, 'threads': torch.get_num_threads(), 'batch': a.batch, 'size': a.size,
                      'times_ms': times, 'median_ms': med,
                      'cpu_ms': cpu, 'median_cpu_ms': statistics.median(cpu), 'images_per_s': a.batch / (med / 1000),
                      'torch': torch.__version__}))


if __name__ == '__main__':
    main()
