"""Integrate the paper's three-body problem with a fixed η, then let ThreeBody-v0 drive η from a simple rule.

Run: ``python examples/timestep_three_body.py``.
"""


from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep import PaperThreeBodyDistribution, make_three_body, simulate

instance = PaperThreeBodyDistribution().sample(stream(100, "instances"))
result = simulate(instance.masses, instance.positions, instance.velocities, t_end=10.0, eta=2.15e-3)
print(f"fixed eta=2.15e-3 over 10 yr: {result.force_evaluations} force evaluations, "
      f"|dE/E0| = {abs(result.energy_error):.2e}, status {result.status}")

env = make_three_body(episode_length=100)
obs, info = env.reset(options={"instance": instance})
total_reward = 0.0
while True:
    # a hand rule: small eta when the energy error grew fast over the last 0.1 yr, larger otherwise
    action = 3 if obs[11] > -13 else 5
    obs, reward, terminated, truncated, info = env.step(action)
    total_reward += reward
    if terminated or truncated:
        break
print(f"rule over 10 yr: {info['total_force_evaluations']} force evaluations, "
      f"|dE/E0| = {abs(info['energy_error']):.2e}, return {total_reward:.1f}")
