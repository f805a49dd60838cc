# A Richards-style operating-system simulation (after pyperformance's
# bm_richards), with every object a dict: task control blocks and packets
# with named fields, packets queued on linked lists through their "link"
# field, each task's behaviour a function stored in the task.
ticks = {"count": 0, "held": 0, "sent": 0}


def packet(dest, kind):
    return {"link": None, "dest": dest, "kind": kind, "datum": 0, "data": [0, 0, 0, 0]}


# Append a packet at the end of a queue (walks the chain, as Richards does).
def enqueue(pkt, queue):
    pkt["link"] = None
    if queue == None:
        return pkt
    p = queue
    while p["link"] != None:
        p = p["link"]
    p["link"] = pkt
    return queue


def task(id, pri, queue, behaviour):
    return {"id": id, "pri": pri, "queue": queue, "held": False,
            "waiting": queue == None, "run": behaviour, "state": {"count": 0, "seed": id}}


tasks = []


def find(id):
    for t in tasks:
        if t["id"] == id:
            return t
    return None


# Queue a packet for its destination; the destination becomes runnable.
def send_packet(pkt):
    dest = find(pkt["dest"])
    dest["queue"] = enqueue(pkt, dest["queue"])
    dest["waiting"] = False
    ticks["sent"] += 1


def take(t):
    pkt = t["queue"]
    if pkt == None:
        return None
    t["queue"] = pkt["link"]
    pkt["link"] = None
    return pkt


# Idle: releases the worker and the devices in a pseudo-random order.
def idle(t):
    s = t["state"]
    s["count"] -= 1
    if s["count"] == 0:
        return False
    s["seed"] = (s["seed"] * 1103515245 + 12345) % 2147483648
    other = find(s["targets"][s["seed"] % 3])
    other["held"] = False
    ticks["held"] += 1
    return True


# Worker: fills a packet with letters, sends it to a handler, and holds
# itself until idle releases it.
def worker(t):
    pkt = take(t)
    if pkt == None:
        t["waiting"] = True
        return True
    s = t["state"]
    if pkt["dest"] == 2:
        pkt["dest"] = 3
    else:
        pkt["dest"] = 2
    pkt["datum"] = 0
    data = pkt["data"]
    for i in range(4):
        s["count"] += 1
        if s["count"] > 26:
            s["count"] = 1
        data[i] = s["count"]
    send_packet(pkt)
    t["held"] = True
    return True


# Handler: passes each datum of a work packet to its device.
def handler(t):
    pkt = take(t)
    if pkt == None:
        t["waiting"] = True
        return True
    s = t["state"]
    if pkt["kind"] == "work":
        d = packet(t["id"] + 3, "device")
        d["datum"] = pkt["data"][pkt["datum"] % 4]
        pkt["datum"] += 1
        s["count"] += d["datum"]
        send_packet(d)
        pkt["dest"] = 1
        send_packet(pkt)
    return True


# Device: consumes a packet, then holds itself until idle releases it.
def device(t):
    pkt = take(t)
    if pkt == None:
        t["waiting"] = True
        return True
    t["state"]["count"] += pkt["datum"]
    t["held"] = True
    ticks["count"] += 1
    return True


def schedule(rounds):
    # Highest priority first: devices, handlers, worker, idle.
    tasks.append(task(5, 4000, None, device))
    tasks.append(task(6, 5000, None, device))
    tasks.append(task(2, 3000, None, handler))
    tasks.append(task(3, 2000, None, handler))
    work = None
    for i in range(8):
        work = enqueue(packet(2 + i % 2, "work"), work)
    tasks.append(task(1, 1000, work, worker))
    idler = task(0, 0, None, idle)
    idler["waiting"] = False
    idler["state"]["count"] = rounds
    idler["state"]["targets"] = [1, 5, 6]
    tasks.append(idler)
    running = True
    while running:
        ran = False
        for t in tasks:
            if not t["held"] and not t["waiting"]:
                ran = True
                if not t["run"](t):
                    running = False
                break
        if not ran:
            running = False
    total = 0
    for t in tasks:
        total = (total * 7 + t["state"]["count"]) % 1000000007
    return total


checksum = schedule(60000)
print(checksum, ticks["count"], ticks["held"], ticks["sent"])
