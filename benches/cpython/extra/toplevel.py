# A while loop at the top level of the script, on global variables.
# Written after the suite, to look for slow paths it misses.
total = 0
i = 0
while i < 3000000:
    if i % 3 == 0:
        total += i
    else:
        total -= 1
    i += 1
print(total)
