# Breadth-first search over a 30,000-node graph held as a map from integers to lists.
# Written after the suite, to look for slow paths it misses.
n = 30000
graph = {}
for i in range(n):
    graph[i] = [(i * 7 + 1) % n, (i * 13 + 5) % n, (i + 1) % n]
total = 0
for start in range(5):
    dist = {}
    dist[start] = 0
    queue = [start]
    head = 0
    while head < len(queue):
        v = queue[head]
        head += 1
        for w in graph[v]:
            if w not in dist:
                dist[w] = dist[v] + 1
                queue.append(w)
    for k in dist:
        total += dist[k]
print(total)
