# Four interpreted threads, each running a CPU-bound loop under the GIL
# (they take turns at its drop requests), joined at the end.
import threading


def work(seed, n, results, slot):
    x = seed
    total = 0
    for i in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        total = (total + x % 1000) % 1000000007
    results[slot] = total


results = [0, 0, 0, 0]
threads = []
for t in range(4):
    th = threading.Thread(target=work, args=(t + 1, 800000, results, t))
    th.start()
    threads.append(th)
checksum = 0
for t in range(4):
    threads[t].join()
    checksum = (checksum * 31 + results[t]) % 1000000007
print(checksum)
