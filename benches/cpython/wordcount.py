# Word counting: a million words drawn from a 20,000-word vocabulary by a
# linear congruential generator, counted in a dict with string keys.
def vocabulary(size):
    words = []
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi"]
    for i in range(size):
        w = ""
        k = i
        while True:
            w += syllables[k % 8]
            k = k // 8
            if k == 0:
                break
        words.append(w)
    return words


def count_words(words, total):
    counts = {}
    seed = 12345
    size = len(words)
    for i in range(total):
        seed = (seed * 1103515245 + 12345) % 2147483648
        w = words[seed % size]
        if w in counts:
            counts[w] += 1
        else:
            counts[w] = 1
    return counts


counts = count_words(vocabulary(20000), 1000000)
distinct = 0
most = 0
checksum = 0
for w in counts:
    distinct += 1
    c = counts[w]
    if c > most:
        most = c
    checksum = (checksum * 31 + c * len(w)) % 1000000007
print(distinct, most, checksum)
