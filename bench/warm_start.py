#!/usr/bin/env python3
"""bench/warm_start.py: how long baselines.warm_start takes to seed N series
over a lookback from a real Prometheus.

Writes DAYS of a daily-cycle gauge for N series (one sample every STEP s)
as OpenMetrics, backfills it with `promtool tsdb create-blocks-from
openmetrics`, starts Prometheus and outrider (BINARY, empty storage, warm
start pointed at Prometheus) on 127.0.0.1, pushes the N series, and reports
the seconds from the push until `outrider_baseline_warm_start_series` says
all are seeded and none pending. Everything it starts is stopped by PID and
its files removed.

    bench/warm_start.py N DAYS STEP seasonal|plain BINARY
    bench/warm_start.py 100 1 15 plain target/release/outrider
"""
import json, math, os, random, subprocess, sys, time, urllib.request, socket, tempfile, shutil
N=int(sys.argv[1]); DAYS=float(sys.argv[2]); STEP=int(sys.argv[3]); SEASONAL=sys.argv[4]=="seasonal"
d=tempfile.mkdtemp(prefix="outrider-warm-start-")
end=int(time.time())//STEP*STEP-STEP
start=end-int(DAYS*86400)
random.seed(1)
with open(f"{d}/h.om","w") as f:
    f.write("# TYPE queue_depth gauge\n")
    for i in range(N):
        t=start
        lines=[]
        while t<=end:
            v=50+20*math.sin(2*math.pi*(t%86400)/86400)+3*random.uniform(-1,1)
            lines.append(f'queue_depth{{namespace="shop",job="checkout",pod="checkout-a",service="checkout",queue="q{i}"}} {v:.3f} {t}\n')
            t+=STEP
        f.writelines(lines)
    f.write("# EOF\n")
t0=time.time()
subprocess.run(["promtool","tsdb","create-blocks-from","openmetrics",f"{d}/h.om",f"{d}/data"],check=True,capture_output=True)
print(f"promtool: {time.time()-t0:.1f}s, samples {N*(int((end-start)/STEP)+1)}")
os.remove(f"{d}/h.om")
def port():
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close(); return p
pp=port()
open(f"{d}/p.yml","w").write("global: {}\n")
prom=subprocess.Popen(["prometheus",f"--config.file={d}/p.yml",f"--storage.tsdb.path={d}/data",f"--web.listen-address=127.0.0.1:{pp}"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
def get(u):
    try: return urllib.request.urlopen(u,timeout=5).read().decode()
    except Exception as e: return ""
for _ in range(600):
    if get(f"http://127.0.0.1:{pp}/-/ready"): break
    time.sleep(0.1)
op=port()
seasonal="\n      seasonal: true" if SEASONAL else ""
open(f"{d}/o.yml","w").write(f"""collect_interval: 1s
rules: []
collectors:
  containers: {{enabled: false}}
push:
  token: warm-start-push-token-0123
external_labels:
  namespace: shop
  job: checkout
baselines:
  track:
    - selector: queue_depth{seasonal}
  warm_start:
    prometheus: http://127.0.0.1:{pp}
    identity_labels: [namespace, job]
    timeout: 300s
""")
os.mkdir(f"{d}/s")
out=subprocess.Popen([sys.argv[5],"--config.file",f"{d}/o.yml","--storage.path",f"{d}/s","--web.listen-address",f"127.0.0.1:{op}"],stdout=open(f"{d}/o.log","w"),stderr=subprocess.STDOUT)
try:
    for _ in range(300):
        if get(f"http://127.0.0.1:{op}/-/ready"): break
        time.sleep(0.1)
    body=json.dumps({"service":"checkout","metrics":[{"name":"queue_depth","type":"gauge","value":60,"labels":{"queue":f"q{i}"}} for i in range(N)]}).encode()
    req=urllib.request.Request(f"http://127.0.0.1:{op}/api/v1/metrics/push",data=body,headers={"Authorization":"Bearer warm-start-push-token-0123"})
    urllib.request.urlopen(req).read()
    tp=time.time()
    while time.time()-tp<600:
        m=get(f"http://127.0.0.1:{op}/metrics")
        if f'outrider_baseline_warm_start_series{{outcome="seeded"}} {N}' in m and 'outcome="pending"} 0' in m:
            break
        time.sleep(0.05)
    print(f"N={N} days={DAYS} step={STEP}s seasonal={SEASONAL}: all seeded {time.time()-tp:.2f}s after the push")
    print([l for l in m.splitlines() if "warm_start" in l and not l.startswith("#")])
finally:
    out.terminate(); out.wait(); prom.terminate(); prom.wait()
    shutil.rmtree(d)
